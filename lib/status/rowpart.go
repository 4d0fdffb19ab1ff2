package status

import (
	"encoding/binary"
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

// A table row says much about the time ("(89d)", "renewed 3 hours ago",
// "renew in 2 days"), so its part is not the row but what Row reads of
// the report, all of it independent of the time of reading; the row is
// made from it at the time of showing. Row (and what it calls) must read
// nothing of a report that encodeRowReport does not keep: the memo tests
// compare the table made both ways.

// tablePart is the part of the report the table's row is made from. (A
// renew-at that was the time of reading, of an incomplete MD, is kept as
// it was: the row shows any renew-at not after now as "now", due.)
func tablePart(rep *Report) (part, error) {
	return part{data: encodeRowReport(rep), until: forever}, nil
}

// rowAt is the table row of a part at now.
func rowAt(b []byte, now time.Time) (TableRow, error) {
	rep, err := decodeRowReport(b, now)
	if err != nil {
		return TableRow{}, err
	}
	return rep.Row(), nil
}

func encodeRowReport(rep *Report) []byte {
	var e partWriter
	m := rep.MD
	e.str(rep.Name)
	e.num(uint64(m.State))
	e.str(m.StateDescr)
	e.strs(m.Domains)
	e.flag(m.CA != nil)
	if m.CA != nil {
		e.str(m.CA.URL)
		e.strs(m.CA.URLs)
	}
	e.flag(m.Stapling)
	e.num(uint64(m.RenewMode))
	e.num(uint64(len(rep.Certs)))
	for _, c := range rep.Certs {
		e.flag(c.Info != nil)
		if c.Info != nil {
			e.time(c.Info.NotBefore)
			e.time(c.Info.NotAfter)
		}
		e.flag(c.OCSP != nil)
		if c.OCSP != nil {
			e.str(c.OCSP.Status)
		}
		e.flag(c.Revoked != nil)
		if c.Revoked != nil {
			e.str(c.Revoked.Reason)
			e.time(c.Revoked.At.Time)
		}
	}
	e.num(uint64(len(rep.Staged)))
	e.flag(rep.Job != nil)
	if j := rep.Job; j != nil {
		e.num(uint64(j.Errors))
		e.time(j.NextRun.Time)
		e.flag(j.Finished)
		e.flag(j.Last != nil)
		if j.Last != nil {
			e.num(uint64(j.Last.Status))
			e.str(j.Last.Problem)
			e.str(j.Last.Detail)
		}
	}
	e.flag(rep.History != nil)
	if h := rep.History; h != nil {
		e.flag(h.Finished)
		e.time(h.LastRun.Time)
	}
	e.time(rep.RenewAt)
	e.time(rep.WarnAt)
	e.str(rep.Nodes.Ordered)
	e.str(rep.Nodes.Installed)
	e.strs(rep.Problems)
	return e.b
}

// decodeRowReport is the report encodeRowReport kept, read at now (the
// renewal is due as decide says).
func decodeRowReport(b []byte, now time.Time) (*Report, error) {
	d := partReader{b: b}
	rep := &Report{Name: d.str(), Now: now, At: now, MD: &md.MD{}}
	m := rep.MD
	m.Name = rep.Name
	m.State = int(d.uvarint())
	m.StateDescr = d.str()
	m.Domains = d.strs()
	if d.flag() {
		m.CA = &md.CA{URL: d.str(), URLs: d.strs()}
	}
	m.Stapling = d.flag()
	m.RenewMode = int(d.uvarint())
	n := d.count()
	for i := 0; i < n && d.err == nil; i++ {
		var c Cert
		if d.flag() {
			c.Info = &CertInfo{NotBefore: d.time(), NotAfter: d.time()}
		}
		if d.flag() {
			c.OCSP = &OCSP{Status: d.str()}
		}
		if d.flag() {
			c.Revoked = &md.Revocation{Reason: d.str(), At: md.NewTime(d.time())}
		}
		rep.Certs = append(rep.Certs, c)
	}
	rep.Staged = make([]Cert, d.count())
	if d.flag() {
		j := &Job{}
		j.Errors = int(d.uvarint())
		j.NextRun = md.NewTime(d.time())
		j.Finished = d.flag()
		if d.flag() {
			j.Last = &md.JobResult{Status: int(d.uvarint()), Problem: d.str(), Detail: d.str()}
		}
		rep.Job = j
	}
	if d.flag() {
		h := &Job{}
		h.Finished = d.flag()
		h.LastRun = md.NewTime(d.time())
		rep.History = h
	}
	rep.RenewAt, rep.WarnAt = d.time(), d.time()
	rep.Nodes = Nodes{Ordered: d.str(), Installed: d.str()}
	rep.Problems = d.strs()
	rep.Renew = rep.Job != nil || !rep.RenewAt.IsZero() && !rep.RenewAt.After(now)
	rep.Watched = m.State != md.StateError
	return rep, d.done()
}

// partWriter encodes a part.
type partWriter struct{ b []byte }

func (e *partWriter) num(v uint64) { e.b = binary.AppendUvarint(e.b, v) }
func (e *partWriter) str(s string) { e.b = appendStr(e.b, s) }

func (e *partWriter) strs(ss []string) {
	e.num(uint64(len(ss)))
	for _, s := range ss {
		e.str(s)
	}
}

func (e *partWriter) flag(v bool) {
	if v {
		e.b = append(e.b, 1)
	} else {
		e.b = append(e.b, 0)
	}
}

// time keeps the instant (zero as zero); it is read back in UTC, as the
// store's times are.
func (e *partWriter) time(t time.Time) {
	e.flag(!t.IsZero())
	if !t.IsZero() {
		e.b = binary.AppendVarint(e.b, t.Unix())
		e.num(uint64(t.Nanosecond()))
	}
}

func (d *partReader) str() string { return string(d.bytes()) }

func (d *partReader) strs() []string {
	n := d.count()
	var ss []string
	for i := 0; i < n && d.err == nil; i++ {
		ss = append(ss, d.str())
	}
	return ss
}

// count is a number of things that follow, each at least a byte.
func (d *partReader) count() int {
	n := d.uvarint()
	if n > uint64(len(d.b)) {
		d.err = errBadPart
		return 0
	}
	return int(n)
}

func (d *partReader) flag() bool {
	if d.err != nil || len(d.b) == 0 {
		d.err = errBadPart
		return false
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v == 1
}

func (d *partReader) time() time.Time {
	if !d.flag() {
		return time.Time{}
	}
	if d.err != nil {
		return time.Time{}
	}
	sec, n := binary.Varint(d.b)
	if n <= 0 {
		d.err = errBadPart
		return time.Time{}
	}
	d.b = d.b[n:]
	return time.Unix(sec, int64(d.uvarint())).UTC()
}
