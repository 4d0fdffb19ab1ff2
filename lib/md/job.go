package md

import (
	"encoding/json"
	"time"
)

// MaxJobLogEntries is how many log entries mod_md keeps in a job.json.
const MaxJobLogEntries = 128

// Job is mod_md's job.json: the state and log of the work on one MD
// (renewal in domains/ or staging/, OCSP in ocsp/).
type Job struct {
	Name            string     `json:"name"`
	Finished        bool       `json:"finished"`
	Notified        bool       `json:"notified"`
	NotifiedRenewed bool       `json:"notified-renewed"`
	NextRun         Time       `json:"next-run,omitzero"`
	LastRun         Time       `json:"last-run,omitzero"`
	ValidFrom       Time       `json:"valid-from,omitzero"`
	Errors          int        `json:"errors"`
	Last            *JobResult `json:"last,omitempty"`
	Log             JobLog     `json:"log"`

	Extra map[string]json.RawMessage `json:"-"`
}

// JobResult is the outcome of the last run.
type JobResult struct {
	Status            int          `json:"status"` // 0 ok, else an APR-like code
	StatusDescription string       `json:"status-description,omitempty"`
	Problem           string       `json:"problem,omitempty"`
	Detail            string       `json:"detail,omitempty"`
	Activity          string       `json:"activity,omitempty"`
	ValidFrom         Time         `json:"valid-from,omitzero"`
	Subproblems       []Subproblem `json:"subproblems,omitempty"`
}

// JobLog holds entries newest first.
type JobLog struct {
	Entries []JobEntry `json:"entries"`
}

// JobEntry is one log line. Types: starting, progress, finished,
// renewal-error, message-<reason>, message-error, notify-error, ocsp-error.
type JobEntry struct {
	When   Time   `json:"when"`
	Type   string `json:"type"`
	Status string `json:"status,omitempty"`
	Detail string `json:"detail,omitempty"`
	// Node is the node that wrote the entry (SetNode; mdtools extension,
	// omitted when unknown), so that a fleet sharing one store shows which
	// node ordered and which installed.
	Node string `json:"node,omitempty"`
}

type jobFields Job

// MarshalJSON encodes in mod_md's key order, then unknown fields.
func (j Job) MarshalJSON() ([]byte, error) {
	if j.Log.Entries == nil {
		j.Log.Entries = []JobEntry{}
	}
	b, err := MarshalNoEscape(jobFields(j))
	if err != nil {
		return nil, err
	}
	return appendExtra(b, j.Extra)
}

// UnmarshalJSON decodes job.json, keeping unknown fields.
func (j *Job) UnmarshalJSON(b []byte) error {
	var f jobFields
	var extra map[string]json.RawMessage
	if !decodePlain(b, &f) {
		var err error
		if extra, err = decodeObject(b, &f); err != nil {
			return err
		}
	}
	*j = Job(f)
	j.Extra = extra
	return nil
}

// AddLog puts an entry at the front and keeps the newest MaxJobLogEntries.
func (j *Job) AddLog(when time.Time, typ, status, detail string) {
	e := JobEntry{When: NewTime(when), Type: typ, Status: status, Detail: detail, Node: Node()}
	j.Log.Entries = append([]JobEntry{e}, j.Log.Entries...)
	if len(j.Log.Entries) > MaxJobLogEntries {
		j.Log.Entries = j.Log.Entries[:MaxJobLogEntries]
	}
}

// LastEntry returns the newest entry of the given type, if any.
func (j *Job) LastEntry(typ string) (JobEntry, bool) {
	for _, e := range j.Log.Entries {
		if e.Type == typ {
			return e, true
		}
	}
	return JobEntry{}, false
}
