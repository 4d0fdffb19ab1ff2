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

// jobNodes reads the nodes from a job.json's log (newest entry first).
func jobNodes(data []byte) Nodes {
	var j struct { // only what is needed: a bad "when" hides nothing
		Log struct {
			Entries []struct {
				Type   string `json:"type"`
				Detail string `json:"detail"`
				Node   string `json:"node"`
			} `json:"entries"`
		} `json:"log"`
	}
	var n Nodes
	if json.Unmarshal(data, &j) != nil {
		return n
	}
	var ordered, installed bool
	for _, e := range j.Log.Entries {
		if md.CheckNode(e.Node) != nil {
			e.Node = "" // not a name a node gives itself: not shown
		}
		if !installed && strings.HasPrefix(e.Detail, installPrefix) {
			n.Installed, installed = e.Node, true
		}
		if !ordered && e.Type == "finished" {
			n.Ordered, ordered = e.Node, true
		}
	}
	return n
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
	if data != nil {
		rep.Nodes = jobNodes(data)
	}
	if rep.Job == nil {
		return
	}
	data = jobs.staging
	if data == nil {
		data, _ = r.Store.Read(ctx, store.GroupStaging, rep.Name, store.FileJob)
	}
	if data != nil {
		if n := jobNodes(data); n.Ordered != "" {
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
