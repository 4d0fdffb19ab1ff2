package status

import (
	"bytes"
	"encoding/json"

	"github.com/mdtools/mdtools/lib/md"
)

// The job.json files of the cold path, read with the scanner (jscan.go):
// it checks the file and cuts out its members, and encoding/json decodes
// only the small ones, not the log. A file the scanner leaves alone, and
// one that fails, goes to the reference (decodeJobRef, quickJobRef),
// which decides and words the error (FuzzDecodeJob, FuzzQuickJob).

// decodeJob is decodeJobRef.
func decodeJob(data []byte, withLog, withRaw bool) (*Job, error) {
	if j, ok := scanJob(data, withLog, withRaw); ok {
		return j, nil
	}
	return decodeJobRef(data, withLog, withRaw)
}

// scanJob is decodeJobRef for a plain file; ok is false when the
// reference must decide.
func scanJob(data []byte, withLog, withRaw bool) (j *Job, ok bool) {
	s := &jscan{b: data}
	head := make([]byte, 0, 512) // the members but the log and certs
	head = append(head, '{')
	var logRaw, certsRaw []byte
	var sawLog, sawCerts bool
	var raw *Object
	if withRaw {
		raw = NewObject()
	}
	s.object(func(key []byte, plain bool) {
		if !plain {
			s.fail = true // its name may be any field's: for encoding/json
			return
		}
		s.peek()
		start := s.p
		s.skip()
		if s.fail {
			return
		}
		v := data[start:s.p]
		if raw != nil {
			raw.Set(string(key), json.RawMessage(v)) // as ParseObject
		}
		switch {
		case string(key) == "log" && !sawLog:
			sawLog, logRaw = true, v
		case string(key) == "certs" && !sawCerts:
			sawCerts, certsRaw = true, v
		case bytes.EqualFold(key, []byte("log")) || bytes.EqualFold(key, []byte("certs")):
			s.fail = true // twice, or in another case
		default:
			if len(head) > 1 {
				head = append(head, ',')
			}
			head = append(head, '"')
			head = append(head, key...)
			head = append(head, '"', ':')
			head = append(head, v...)
		}
	})
	s.end()
	if s.fail {
		return nil, false
	}
	var p plainJob
	if json.Unmarshal(append(head, '}'), &p) != nil {
		return nil, false
	}
	j = &Job{Job: plainToJob(&p)}
	if certsRaw != nil {
		j.Extra = map[string]json.RawMessage{"certs": bytes.Clone(certsRaw)}
	}
	if withLog && logRaw != nil && !bytes.Equal(logRaw, []byte("null")) {
		var ok bool
		if j.Log, ok = scanLog(logRaw); !ok && json.Unmarshal(logRaw, &j.Log) != nil {
			return nil, false
		}
	}
	j.Raw = raw
	return j, true
}

// quickJob is quickJobRef.
func quickJob(data []byte) (*Job, error) {
	if j, ok := scanQuickJob(data); ok {
		return j, nil
	}
	return quickJobRef(data)
}

// scanQuickJob is quickJobRef for a plain file; ok is false when the
// reference must decide. Like it, it stops at the log: what follows is
// not read.
func scanQuickJob(data []byte) (j *Job, ok bool) {
	s := &jscan{b: data}
	if !s.eat('{') {
		return nil, false
	}
	j = &Job{}
	if s.peek() == '}' {
		return j, true
	}
	for {
		key, plain := s.str()
		if !plain || !s.eat(':') {
			return nil, false
		}
		if string(key) == "log" {
			return j, true
		}
		dst := j.headField(string(key))
		s.peek()
		start := s.p
		s.skip()
		if s.fail || dst != nil && json.Unmarshal(data[start:s.p], dst) != nil {
			return nil, false
		}
		switch s.peek() {
		case ',':
			s.p++
		case '}':
			return j, true
		default:
			return nil, false
		}
	}
}

// logFields are the string fields of md.JobEntry (When aside).
var logFields = [...]string{"type", "status", "detail", "node"}

// scanLog decodes a job log as encoding/json does into md.JobLog; ok is
// false when it is not plain enough (then nothing is decided).
func scanLog(data []byte) (log md.JobLog, ok bool) {
	s := &jscan{b: data}
	var sawEntries bool
	entry := func() {
		var e md.JobEntry
		strs := [...]*string{&e.Type, &e.Status, &e.Detail, &e.Node}
		s.object(func(key []byte, plain bool) {
			if match, ok := fieldKey(key, plain, "when"); !ok || match {
				s.peek()
				start := s.p
				s.skip()
				if !ok || s.fail || e.When.UnmarshalJSON(data[start:s.p]) != nil {
					s.fail = true
				}
				return
			}
			if i := s.member(key, plain, logFields[:]...); i >= 0 {
				v, plain := s.str() // null or another type: for encoding/json
				s.fail = s.fail || !plain
				*strs[i] = string(v)
				return
			}
			s.skip()
		})
		log.Entries = append(log.Entries, e)
	}
	s.object(func(key []byte, plain bool) {
		match, ok := fieldKey(key, plain, "entries")
		switch {
		case !ok || match && (sawEntries || s.peek() != '['):
			s.fail = true
		case match:
			sawEntries = true
			log.Entries = make([]md.JobEntry, 0, 8)
			s.objects(entry)
		default:
			s.skip()
		}
	})
	s.end()
	if s.fail {
		return md.JobLog{}, false
	}
	return log, true
}

// scanOCSP is decodeOCSP for a plain file; ok is false when the
// reference must decide.
func scanOCSP(data []byte) (f ocspState, ok bool) {
	s := &jscan{b: data}
	s.object(func(key []byte, plain bool) {
		switch s.member(key, plain, "response", "status", "valid") {
		case 0:
			v, _ := s.str()         // null or another type: for encoding/json
			f.response = len(v) > 0 // any escape decodes to something
		case 1:
			v, plain := s.str()
			f.status = string(v)
			s.fail = s.fail || !plain
		case 2:
			s.peek()
			start := s.p
			s.skip()
			s.fail = s.fail || json.Unmarshal(data[start:s.p], &f.valid) != nil
		default:
			s.skip()
		}
	})
	s.end()
	if s.fail {
		return ocspState{}, false
	}
	return f, true
}
