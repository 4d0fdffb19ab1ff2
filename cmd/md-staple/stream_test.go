package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/staple/ocsptest"
	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/store/storetest"
)

// httpDate is a time as records and job logs print it.
var httpDate = regexp.MustCompile(`[A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT`)

// TestStreamingAsOneBatch: md-staple reading records works on them one by
// one as they come (staple.Runner.RunRecord); with a --cert file it still
// runs them as one batch (the "other" record comes last). From the same
// store state both print the same records in the same order (times
// aside: the real responder and the runs use the wall clock), write the
// same job logs and exit alike: a first run with fresh, due, missing,
// unknown (a failed record), stapling-off and certificate-less MDs
// (exit 1), the second, no-op run (exit 0: the unknown one waits in its
// backoff), and a third whose input has a bad line after three records
// (exit 2, those three written).
func TestStreamingAsOneBatch(t *testing.T) {
	resp, ca := responder(t, "md-staple stream CA")
	root := t.TempDir()
	live := filepath.Join(root, "store")
	st, err := store.Open(t.Context(), live)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	add := func(m *md.MD) {
		b, _ := json.Marshal(&md.Record{MD: *m, Order: &md.OrderResult{}})
		lines = append(lines, string(b))
	}
	var fresh []string
	for _, name := range []string{"fresh1.test", "missing.test", "unknown.test", "off.test", "fresh2.test"} {
		m, chain := installLive(t, st, ca, resp, name)
		switch name {
		case "unknown.test":
			c, err := store.ParseChainPEM(chain)
			if err != nil {
				t.Fatal(err)
			}
			resp.MarkUnknown(c[0].SerialNumber)
		case "off.test":
			m.Stapling = false
		case "fresh1.test", "fresh2.test":
			b, _ := json.Marshal(&md.Record{MD: *m})
			fresh = append(fresh, string(b))
		}
		add(m)
	}
	nocert := &md.MD{Name: "nocert.test", Domains: []string{"nocert.test"}, Stapling: true}
	if err := st.SaveMD(t.Context(), store.GroupDomains, nocert); err != nil {
		t.Fatal(err)
	}
	add(nocert)
	st.Close()
	// the fresh ones got their responses before
	if code, out, errOut := run(t, strings.Join(fresh, "\n")+"\n", "--store", live); code != cli.ExitOK {
		t.Fatalf("setup: exit %d\n%s%s", code, out, errOut)
	}
	_, _, other, err := ca.Leaf(ocsptest.LeafOptions{OCSP: resp.URL, Name: "static.test"})
	if err != nil {
		t.Fatal(err)
	}
	certFile := filepath.Join(root, "static.pem")
	if err := os.WriteFile(certFile, other, 0o644); err != nil {
		t.Fatal(err)
	}
	snapshot := filepath.Join(root, "snapshot")
	storetest.CopyTree(t, live, snapshot)
	// a file: --cert without one reads no records from stdin
	recFile := filepath.Join(root, "records.jsonl")
	if err := os.WriteFile(recFile, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// and the same records with a bad line in the middle (exit 2: the
	// records before it are worked on and written, none after it)
	badFile := filepath.Join(root, "bad.jsonl")
	bad := append(append(append([]string{}, lines[:3]...), `{"name":"broken.test","domains":"broken.test"}`), lines[3:]...)
	if err := os.WriteFile(badFile, []byte(strings.Join(bad, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	type outcome struct {
		codes []int
		outs  []string
		jobs  string
	}
	got := map[string]outcome{}
	for _, path := range []string{"stream", "batch"} {
		if err := os.RemoveAll(live); err != nil {
			t.Fatal(err)
		}
		storetest.CopyTree(t, snapshot, live)
		var o outcome
		for i, file := range []string{recFile, recFile, badFile} {
			args := []string{"--store", live, file}
			if path == "batch" {
				args = append([]string{"--cert", certFile}, args...)
			}
			code, out, errOut := run(t, "", args...)
			if path == "batch" {
				i := strings.LastIndex(strings.TrimSuffix(out, "\n"), "\n")
				if !strings.Contains(out[i+1:], `"name":"other"`) {
					t.Fatalf("batch: the last record is not --cert's: %s", out[i+1:])
				}
				out = out[:i+1]
			}
			if want := []int{cli.ExitFailed, cli.ExitOK, cli.ExitUsage}[i]; code != want {
				t.Errorf("%s run %d: exit %d; want %d\n%s", path, len(o.codes)+1, code, want, errOut)
			}
			o.codes = append(o.codes, code)
			o.outs = append(o.outs, httpDate.ReplaceAllString(out, "T"))
		}
		for _, l := range lines {
			var m md.MD
			_ = json.Unmarshal([]byte(l), &m)
			b, err := os.ReadFile(filepath.Join(live, "ocsp", m.Name, "job.json"))
			if err == nil {
				o.jobs += m.Name + ": " + httpDate.ReplaceAllString(string(b), "T") + "\n"
			}
		}
		got[path] = o
	}
	s, b := got["stream"], got["batch"]
	for i := range s.outs {
		if s.codes[i] != b.codes[i] {
			t.Errorf("run %d: exit %d streaming, %d as a batch", i+1, s.codes[i], b.codes[i])
		}
		if s.outs[i] != b.outs[i] {
			t.Errorf("run %d: stdout streaming:\n%s\nas a batch:\n%s", i+1, s.outs[i], b.outs[i])
		}
	}
	if s.jobs != b.jobs || !strings.Contains(s.jobs, "unknown.test") {
		t.Errorf("job logs streaming:\n%s\nas a batch:\n%s", s.jobs, b.jobs)
	}
	if n := strings.Count(s.outs[2], "\n"); n != 3 {
		t.Errorf("bad line: %d records written; want the 3 before it:\n%s", n, s.outs[2])
	}
	for _, want := range []string{`"name":"fresh1.test"`, `"action":"kept"`, `"action":"fetched"`, `"action":"failed"`, `"action":"skipped"`} {
		if !strings.Contains(s.outs[0], want) {
			t.Errorf("first run's records lack %s:\n%s", want, s.outs[0])
		}
	}
}
