package status

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/mdtools/mdtools/lib/md"
)

// TableRow is one MD as the table shows it.
type TableRow struct {
	Name, Names, State, ValidUntil, RenewAt, CA, Stapling, Activity string
	Node                                                            string // which node ordered and installed; a column only when some MD has one
	Level                                                           int    // 0 fine, 1 attention, 2 trouble
}

// Row summarises a report for the table.
func (rep *Report) Row() (r TableRow) {
	r = TableRow{Name: rep.Name, State: rep.StatusWord()}
	if word, descr, ok := strings.Cut(r.State, ": "); ok {
		r.State = word // the why goes to the activity column
		defer func() { r.Activity = strings.TrimSuffix(descr, ".") + "; " + r.Activity }()
	}
	if rep.MD != nil {
		r.Names = strings.Join(rep.MD.Domains, ",")
	}
	if _, until := rep.Valid(); !until.IsZero() {
		days := DaysLeft(until, rep.Now)
		if days < 0 {
			r.ValidUntil = fmt.Sprintf("%s (expired %dd ago)", until.Format("2006-01-02"), -days)
		} else {
			r.ValidUntil = fmt.Sprintf("%s (%dd)", until.Format("2006-01-02"), days)
		}
	} else {
		r.ValidUntil = "-"
	}
	switch {
	case rep.RenewAt.IsZero():
		r.RenewAt = "-"
	case !rep.RenewAt.After(rep.Now):
		r.RenewAt = "now"
	default:
		r.RenewAt = rep.RenewAt.Format("2006-01-02")
	}
	if urls := rep.CAURLs(); len(urls) > 0 {
		r.CA = CAName(urls[0])
	} else {
		r.CA = "-"
	}
	r.Stapling = "off"
	if rep.MD != nil && rep.MD.Stapling {
		r.Stapling = "on"
		var sts []string
		for _, c := range rep.Certs {
			if c.OCSP != nil {
				sts = append(sts, c.OCSP.Status)
			}
		}
		if len(sts) > 0 {
			r.Stapling += " (" + strings.Join(dedup(sts), ",") + ")"
		}
	}
	r.Activity = rep.Activity()
	r.Node = rep.Nodes.String()
	if note := rep.revokedNote(); note != "" {
		r.State, r.Activity = "revoked", note+"; "+r.Activity
	}
	switch {
	case r.State == "revoked", rep.MD.State == md.StateError, r.State == "expired", rep.Job.Failing():
		r.Level = 2
	case rep.MD.State != md.StateComplete, rep.Renew, !rep.WarnAt.IsZero() && !rep.WarnAt.After(rep.Now):
		r.Level = 1
	}
	return r
}

func dedup(s []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, x := range s {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

// WriteTable writes rows as aligned columns; with color, rows needing
// attention are yellow and trouble red (ANSI).
func WriteTable(out io.Writer, rows []TableRow, color bool) (err error) {
	w := bufio.NewWriterSize(out, 256<<10) // not a write per row
	defer func() {
		if ferr := w.Flush(); err == nil {
			err = ferr
		}
	}()
	head := TableRow{Name: "NAME", Names: "NAMES", State: "STATE", ValidUntil: "VALID UNTIL", RenewAt: "RENEW AT", CA: "CA", Stapling: "STAPLING", Activity: "ACTIVITY", Node: "NODE"}
	nodes := false // a fleet's column: only when some MD names a node
	for _, r := range rows {
		nodes = nodes || r.Node != ""
	}
	cols := func(r TableRow) []string {
		c := []string{r.Name, r.Names, r.State, r.ValidUntil, r.RenewAt, r.CA, r.Stapling}
		if nodes {
			node := r.Node
			if node == "" {
				node = "-"
			}
			c = append(c, node)
		}
		return append(c, r.Activity)
	}
	width := make([]int, 9)
	for _, r := range append([]TableRow{head}, rows...) {
		for i, c := range cols(r) {
			width[i] = max(width[i], utf8.RuneCountInString(c))
		}
	}
	var b strings.Builder
	line := func(r TableRow, on bool) {
		b.Reset()
		if on {
			switch r.Level {
			case 1:
				b.WriteString("\x1b[33m")
			case 2:
				b.WriteString("\x1b[31m")
			}
		}
		cs := cols(r)
		for i, c := range cs {
			b.WriteString(c)
			if i < len(cs)-1 {
				b.WriteString(strings.Repeat(" ", width[i]-utf8.RuneCountInString(c)+2))
			}
		}
		if on && r.Level > 0 {
			b.WriteString("\x1b[0m")
		}
		b.WriteByte('\n')
	}
	line(head, false)
	if _, err := io.WriteString(w, b.String()); err != nil {
		return err
	}
	for _, r := range rows {
		line(r, color)
		if _, err := io.WriteString(w, b.String()); err != nil {
			return err
		}
	}
	return nil
}
