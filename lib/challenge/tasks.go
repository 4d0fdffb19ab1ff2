package challenge

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/mdtools/mdtools/lib/md"
)

// TaskLine is one line of a task list (JSON Lines), the form md-challenge
// setup/teardown read and md-order can hand on:
//
//	{"md":"example.org","type":"http-01","domain":"www.example.org",
//	 "token":"<from the CA>","key-authorization":"<token>.<thumbprint>"}
//
// "md" names the MD record the task belongs to; when absent, the record
// whose domains contain "domain" (or "*.domain") is used. token and
// key-authorization are required for setup; teardown needs only type and
// domain (plus key-authorization for dns-01 with MDChallengeDns01Version 2).
type TaskLine struct {
	MD string `json:"md,omitempty"`
	Task
}

// MaxTaskLineBytes bounds one task line.
const MaxTaskLineBytes = 64 << 10

// ReadTasks reads a task list: JSON Lines of TaskLine, blank lines and
// lines starting with '#' skipped. Every line is decoded strictly (unknown
// fields are errors) and validated (full: as for Setup) before any is
// returned; errors read "<input>: line N: ...".
func ReadTasks(r io.Reader, input string, full bool) ([]TaskLine, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 4096), MaxTaskLineBytes)
	var out []TaskLine
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 || b[0] == '#' {
			continue
		}
		var tl TaskLine
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&tl); err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", input, line, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("%s: line %d: more than one JSON value", input, line)
		}
		if tl.MD != "" {
			if err := md.ValidateDomain(tl.MD); err != nil || md.IsWildcard(tl.MD) {
				return nil, fmt.Errorf("%s: line %d: field \"md\": %q is not an MD name", input, line, tl.MD)
			}
		}
		if err := tl.Task.Validate(full); err != nil {
			return nil, fmt.Errorf("%s: line %d: %w", input, line, err)
		}
		out = append(out, tl)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("a line is longer than %d bytes", MaxTaskLineBytes)
		}
		return nil, fmt.Errorf("%s: line %d: %w", input, line+1, err)
	}
	return out, nil
}

// MatchRecord finds the record a task line belongs to: by "md", else the
// one record whose domains contain the task's domain or its wildcard.
func MatchRecord(recs []*md.Record, tl TaskLine) (*md.Record, error) {
	if tl.MD != "" {
		for _, r := range recs {
			if strings.EqualFold(r.Name, tl.MD) {
				return r, nil
			}
		}
		return nil, fmt.Errorf("md %q is not among the input records", tl.MD)
	}
	var found []*md.Record
	for _, r := range recs {
		for _, d := range r.Domains {
			if strings.EqualFold(d, tl.Domain) || strings.EqualFold(d, "*."+tl.Domain) {
				found = append(found, r)
				break
			}
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no input record has the domain %s", tl.Domain)
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("domain %s belongs to several input records; name one with \"md\"", tl.Domain)
}

// Apply sets up (or tears down) each task for its record, in order, and
// records a failure in the record's error (stage "challenge"); a record
// keeps its first failure. It returns how many tasks failed. Tasks must
// have been matched with MatchRecord.
func Apply(ctx context.Context, r Responder, recs []*md.Record, tasks []TaskLine, setup bool) (failed int, err error) {
	type job struct {
		rec *md.Record
		t   Task
	}
	jobs := make([]job, 0, len(tasks))
	for i, tl := range tasks {
		rec, err := MatchRecord(recs, tl)
		if err != nil {
			return 0, fmt.Errorf("task %d (%s): %w", i+1, tl.Task, err)
		}
		jobs = append(jobs, job{rec, tl.Task})
	}
	for _, j := range jobs {
		if ctx.Err() != nil {
			return failed, ctx.Err()
		}
		var err error
		if setup {
			err = r.Setup(ctx, j.rec, j.t)
		} else {
			err = r.Teardown(ctx, j.rec, j.t)
		}
		if err != nil {
			failed++
			if j.rec.Error == nil {
				j.rec.Fail("challenge", &md.StageError{Problem: problemFor(err, setup), Detail: err.Error()})
			}
		}
	}
	return failed, nil
}

func problemFor(err error, setup bool) string {
	switch {
	case !setup:
		return ""
	case errors.Is(err, ErrNotApplicable):
		return ProblemMismatch
	default:
		return ProblemSetupFailure
	}
}

// StoredTasks are the http-01 and tls-alpn-01 teardown tasks for every
// domain of the records (wildcards as their authorization identifier),
// for tearing down whatever is stored for these MDs.
func StoredTasks(recs []*md.Record) []TaskLine {
	var out []TaskLine
	for _, r := range recs {
		var seen []string
		for _, d := range r.Domains {
			d = strings.ToLower(strings.TrimPrefix(d, "*."))
			if slices.Contains(seen, d) || ValidateChallengeDomain(d) != nil {
				continue
			}
			seen = append(seen, d)
			out = append(out, TaskLine{MD: r.Name, Task: Task{Type: HTTP01, Domain: d}})
		}
	}
	return out
}
