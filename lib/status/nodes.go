package status

import (
	"context"
	"encoding/json"
	"strings"

	"github.com/mdtools/mdtools/lib/md"

	"github.com/mdtools/mdtools/lib/store"
)

// Nodes says which node of a fleet sharing one store last ordered and
// last installed an MD's certificate, from the "node" of the job log
// entries md-order and md-install write (an mdtools extension; "" when
// the entry names none, as mod_md's do not).
type Nodes struct {
	Ordered   string // md-order's last finished order
	Installed string // md-install's last activation
}

// installPrefix starts the details of md-install's job log entries.
const installPrefix = "md-install: "

// jobNodes reads the nodes from a job.json's log (newest entry first):
// scanned for them (scanNodes), or when the scanner leaves it to
// encoding/json, decoded (decodeNodes, the reference).
func jobNodes(data []byte) Nodes {
	if n, ok := scanNodes(data); ok {
		return n
	}
	return decodeNodes(data)
}

// nodeFinder picks the nodes from log entries, newest first.
type nodeFinder struct {
	n                  Nodes
	ordered, installed bool
}

func (f *nodeFinder) entry(typ, detail, node string) {
	if md.CheckNode(node) != nil {
		node = "" // not a name a node gives itself: not shown
	}
	if !f.installed && strings.HasPrefix(detail, installPrefix) {
		f.n.Installed, f.installed = node, true
	}
	if !f.ordered && typ == "finished" {
		f.n.Ordered, f.ordered = node, true
	}
}

// scanNodes is decodeNodes without decoding: ok is false when the file
// is not plain enough for it (then decodeNodes decides).
func scanNodes(data []byte) (Nodes, bool) {
	s := &jscan{b: data}
	var f nodeFinder
	var sawLog, sawEntries bool
	entry := func() {
		var e [3][]byte // type, detail, node: the last of each key counts
		s.object(func(key []byte, plain bool) {
			if i := s.member(key, plain, "type", "detail", "node"); i >= 0 {
				v, plain := s.str() // null or another type: for encoding/json
				s.fail = s.fail || !plain
				e[i] = v
				return
			}
			s.skip()
		})
		if !s.fail {
			f.entry(string(e[0]), string(e[1]), string(e[2]))
		}
	}
	logMember := func(key []byte, plain bool) {
		match, ok := fieldKey(key, plain, "entries")
		switch {
		case !ok || match && (sawEntries || s.peek() != '['):
			s.fail = true // null, another type or twice: for encoding/json
		case match:
			sawEntries = true
			s.objects(entry)
		default:
			s.skip()
		}
	}
	s.object(func(key []byte, plain bool) {
		match, ok := fieldKey(key, plain, "log")
		switch {
		case !ok || match && (sawLog || s.peek() != '{'):
			s.fail = true
		case match:
			sawLog = true
			s.object(logMember)
		default:
			s.skip()
		}
	})
	s.end()
	return f.n, !s.fail
}

// decodeNodes reads the nodes with encoding/json.
func decodeNodes(data []byte) Nodes {
	var j struct { // only what is needed: a bad "when" hides nothing
		Log struct {
			Entries []struct {
				Type   string `json:"type"`
				Detail string `json:"detail"`
				Node   string `json:"node"`
			} `json:"entries"`
		} `json:"log"`
	}
	if json.Unmarshal(data, &j) != nil {
		return Nodes{}
	}
	var f nodeFinder
	for _, e := range j.Log.Entries {
		f.entry(e.Type, e.Detail, e.Node)
	}
	return f.n
}

// loadNodes fills rep.Nodes from domains/<md>/job.json (the renewal that
// made the live set: who ordered it, who installed it) and, while a
// renewal is staged, from staging/<md>/job.json (who ordered that one).
// Unreadable logs only leave the nodes unknown.
// The files loadRenewal read (jobs) are not read again.
func (r *Reader) loadNodes(ctx context.Context, rep *Report, jobs jobFiles) {
	if r.slow {
		jobs = jobFiles{}
	}
	data := jobs.history
	if !jobs.historyRead {
		data, _ = r.Store.Read(ctx, store.GroupDomains, rep.Name, store.FileJob)
	}
	nodes := jobNodes
	if r.slow {
		nodes = decodeNodes
	}
	if data != nil {
		rep.Nodes = nodes(data)
	}
	if rep.Job == nil {
		return
	}
	data = jobs.staging
	if data == nil {
		data, _ = r.Store.Read(ctx, store.GroupStaging, rep.Name, store.FileJob)
	}
	if data != nil {
		if n := nodes(data); n.Ordered != "" {
			rep.Nodes.Ordered = n.Ordered
		}
	}
}

// nodesJSON is the "nodes" member of an MD's JSON, nil when no node is
// known.
func (n Nodes) json() *Object {
	if n.Ordered == "" && n.Installed == "" {
		return nil
	}
	o := NewObject()
	if n.Ordered != "" {
		o.Set("ordered", n.Ordered)
	}
	if n.Installed != "" {
		o.Set("installed", n.Installed)
	}
	return o
}

// String is the table's NODE column: "web1" when one node did both,
// else "ordered web1, installed web2" (what is known of it).
func (n Nodes) String() string {
	switch {
	case n.Ordered == "" && n.Installed == "":
		return ""
	case n.Ordered == n.Installed:
		return n.Ordered
	case n.Installed == "":
		return "ordered " + n.Ordered
	case n.Ordered == "":
		return "installed " + n.Installed
	}
	return "ordered " + n.Ordered + ", installed " + n.Installed
}
