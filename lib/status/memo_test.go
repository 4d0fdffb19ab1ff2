package status

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/memo/memotest"
	"github.com/mdtools/mdtools/lib/store"
)

// memoViews are the views with a memo.
var memoViews = []View{ViewJSON, ViewTable, ViewMetrics}

// memoStore is a store for the memo tests: n MDs as the benchmark makes
// them (certificates from 0 to n-1 days old, every other stapled, every
// tenth with a staged renewal) and the special cases of memoSpecials;
// everything is aged so that the memo may remember it.
func memoStore(t *testing.T, n int) (string, *store.Store, time.Time) {
	t.Helper()
	dir := t.TempDir()
	now := GenerateBenchStore(t, dir, n)
	st, err := store.Open(t.Context(), dir)
	must(t, err)
	memoSpecials(t, st, now)
	memotest.Age(t, dir)
	// look a few seconds later: at the very moment of writing, every
	// certificate's "(90d)" is about to turn "(89d)"
	return dir, st, now.Add(7 * time.Second)
}

// memoCA issues the certificates of the memo tests.
type memoCA struct {
	t  *testing.T
	ca *certtest.Cert
}

func (c *memoCA) chain(name string, from, until time.Time) []*x509.Certificate {
	leaf := certtest.New(c.t, certtest.Spec{Names: []string{name}, Serial: big.NewInt(from.Unix()), NotBefore: from, NotAfter: until,
		Issuer: c.ca, OCSP: []string{"http://ocsp.example/"}})
	return []*x509.Certificate{leaf.Cert, c.ca.Cert}
}

// memoSpecials adds MDs whose views depend on the clock in other ways:
// renewed seconds ago, failing with a next try, incomplete (renew-at is
// the time of reading), manual, revoked, expired, unreadable.
func memoSpecials(t *testing.T, st *store.Store, now time.Time) {
	t.Helper()
	ctx := t.Context()
	c := &memoCA{t, certtest.New(t, certtest.Spec{CA: true, NotBefore: now.Add(-400 * md.Day), NotAfter: now.Add(400 * md.Day),
		SubjectKeyID: []byte{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0}})}
	add := func(name string, edit func(m *md.MD), from, until time.Time) {
		m := baseMD(name)
		m.PrivKey = md.KeySpecs{{Type: md.KeyEC, Curve: "secp256r1"}}
		m.Stapling = true
		if edit != nil {
			edit(m)
		}
		must(t, st.SaveMD(ctx, store.GroupDomains, m))
		if !from.IsZero() {
			must(t, st.SaveChain(ctx, store.GroupDomains, name, "pubcert.secp256r1.pem", c.chain(name, from, until)))
		}
	}
	add("fresh.example", nil, now.Add(-md.Day), now.Add(89*md.Day))
	fresh := job("fresh.example", now.Add(-90*time.Second), true, 0, nil,
		[2]string{"progress", installPrefix + "activated"}, [2]string{"finished", ""})
	fresh.Log.Entries[0].Node, fresh.Log.Entries[1].Node = "web2", "web1" // installed by web2, ordered by web1
	must(t, st.SaveJob(ctx, store.GroupDomains, "fresh.example", fresh))

	add("failing.example", func(m *md.MD) { m.RenewWindow = window("80%") }, now.Add(-30*md.Day), now.Add(30*md.Day))
	fj := job("failing.example", now.Add(-10*time.Minute), false, 2, &md.JobResult{Status: 1, Detail: "the CA failed"})
	fj.NextRun = md.NewTime(now.Add(3 * time.Hour))
	must(t, st.SaveJob(ctx, store.GroupStaging, "failing.example", fj))

	add("incomplete.example", nil, time.Time{}, time.Time{})
	add("manual.example", func(m *md.MD) { m.RenewMode = md.RenewManual }, now.Add(-70*md.Day), now.Add(20*md.Day))
	add("expired.example", nil, now.Add(-100*md.Day), now.Add(-10*md.Day))

	add("revoked.example", nil, now.Add(-5*md.Day), now.Add(85*md.Day))
	data, err := st.Read(ctx, store.GroupDomains, "revoked.example", "pubcert.secp256r1.pem")
	must(t, err)
	chain, err := store.ParseChainPEM(data)
	must(t, err)
	revs := md.Revocations{Entries: []md.Revocation{{Name: "revoked.example", Serial: md.SerialHex(chain[0].SerialNumber),
		SHA256: NewCertInfo(chain).SHA256, Reason: "keyCompromise", ReasonCode: 1, By: "account", At: md.NewTime(now.Add(-time.Hour))}}}
	must(t, st.SaveJSON(ctx, store.GroupRoot, "", store.RevokedFile("revoked.example"), revs))

	// soon.example: renew "in 30 hours" (hours of Roughly ahead); warn.example
	// enters its warn window two hours in (the table's colour)
	until := now.Add(11*md.Day + 6*time.Hour + 17*time.Minute)
	add("soon.example", func(m *md.MD) { m.RenewWindow = window("10d") }, now.Add(-80*md.Day), until)
	add("warn.example", func(m *md.MD) { m.RenewWindow, m.WarnWindow = window("1d"), window("16097mi") }, now.Add(-80*md.Day), until)

	add("broken.example", nil, time.Time{}, time.Time{})
	must(t, st.Write(ctx, store.GroupDomains, "broken.example", "pubcert.secp256r1.pem", []byte("-----BEGIN CERTIFICATE-----\nMIIB")))
}

// renderAt renders a view of the store at a time, with the store's memo
// (reporting its hits) or without.
func renderAt(t *testing.T, st *store.Store, dir string, view View, at time.Time, withMemo bool) (out string, hits int) {
	t.Helper()
	r := &Reader{Store: st, Now: func() time.Time { return at }}
	hits = -1
	if withMemo {
		r.MemoDir, r.MemoContext = dir, "test"
		r.MemoReport = func(s string) {
			var total int
			if _, err := fmt.Sscanf(s, "%d of %d", &hits, &total); err != nil {
				t.Fatalf("memo report %q: %v", s, err)
			}
		}
	}
	opts := DefaultOptions()
	opts.Color = true // the table's colours show its rows' levels
	var b bytes.Buffer
	err := r.Render(t.Context(), &b, view, nil, opts)
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err) // unreadable MDs: the same with and without
	}
	if withMemo && hits < 0 {
		t.Fatal("the memo was not used")
	}
	return b.String(), hits
}

// sameWithMemo checks that a view with the memo is the view without.
func sameWithMemo(t *testing.T, st *store.Store, dir string, view View, at time.Time, what string) (out string, hits int) {
	t.Helper()
	got, hits := renderAt(t, st, dir, view, at, true)
	want, _ := renderAt(t, st, dir, view, at, false)
	if got != want {
		t.Fatalf("view %d %s: with the memo (%d hits):\n%s\nwithout:\n%s", view, what, hits, firstDiff(got, want), firstDiff(want, got))
	}
	return got, hits
}

// firstDiff is a's line where a and b first differ.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range al {
		if i >= len(bl) || al[i] != bl[i] {
			return fmt.Sprintf("line %d: %s", i+1, al[i])
		}
	}
	return "(a prefix of the other)"
}

// memoOffsets move the clock past every kind of moment a part shows:
// "just now", seconds, minutes, hours, days of "renewed ... ago" and
// "in ..."; a day of "(89d)"; the failing MD's next try; renew-at,
// warn-at and the end of validity of MDs issued 0 to n days ago; and back.
var memoOffsets = []time.Duration{0, time.Second, 3 * time.Second, 2 * time.Minute, 150 * time.Second, time.Hour, 3 * time.Hour,
	5 * time.Hour, md.Day, 2 * md.Day, 5 * md.Day, 31 * md.Day, 45 * md.Day, 61 * md.Day, 70 * md.Day, 82 * md.Day,
	91 * md.Day, 120 * md.Day, -time.Hour}

// TestMemoViewsOverTime: the JSON list, the table and the metrics read
// the same with the memo as without, at every moment of memoOffsets, both
// with the memo made at the start (and restored before each look) and
// with the memo each run leaves for the next, as cron runs do.
func TestMemoViewsOverTime(t *testing.T) {
	dir, st, now := memoStore(t, 24)
	for _, view := range memoViews {
		file := filepath.Join(dir, memo.FileName(memoStages[view]))
		os.Remove(file)
		sameWithMemo(t, st, dir, view, now, "made")
		if _, hits := sameWithMemo(t, st, dir, view, now, "used"); hits < 24 {
			t.Fatalf("view %d: %d MDs answered from the memo, want at least 24", view, hits)
		}
		made, err := os.ReadFile(file)
		must(t, err)
		used := 0
		for _, off := range memoOffsets {
			must(t, os.WriteFile(file, made, 0o600))
			_, hits := sameWithMemo(t, st, dir, view, now.Add(off), fmt.Sprintf("at +%v from the memo made at +0", off))
			used += hits
		}
		if used == 0 {
			t.Fatalf("view %d: the memo made at the start answered nothing later", view)
		}
		os.Remove(file)
		for _, off := range memoOffsets {
			sameWithMemo(t, st, dir, view, now.Add(off), fmt.Sprintf("at +%v, memo of the run before", off))
		}
	}
}

// TestMemoStoreChanges: after each change to the store the views read the
// same with the memo as without, and the change shows (except where
// md-status does not look).
func TestMemoStoreChanges(t *testing.T) {
	const name = "site00002.example" // staples, no staged renewal
	tests := []struct {
		name   string
		change func(t *testing.T, dir string, st *store.Store, now time.Time)
		shows  []View // where it shows
	}{
		{"certificate replaced", func(t *testing.T, dir string, st *store.Store, now time.Time) {
			c := &memoCA{t, certtest.New(t, certtest.Spec{CA: true, NotBefore: now.Add(-md.Day), NotAfter: now.Add(400 * md.Day)})}
			must(t, st.SaveChain(t.Context(), store.GroupDomains, name, "pubcert.secp256r1.pem", c.chain(name, now.Add(-time.Hour), now.Add(60*md.Day))))
		}, []View{ViewJSON, ViewTable, ViewMetrics}},
		{"job changed", func(t *testing.T, dir string, st *store.Store, now time.Time) {
			must(t, st.SaveJob(t.Context(), store.GroupDomains, name, job(name, now.Add(-3*md.Day), true, 0, nil,
				[2]string{"finished", ""})))
		}, []View{ViewTable, ViewMetrics}},
		{"md.json changed", func(t *testing.T, dir string, st *store.Store, now time.Time) {
			m, err := st.LoadMD(t.Context(), store.GroupDomains, name)
			must(t, err)
			m.Domains = append(m.Domains, "new."+name)
			must(t, st.SaveMD(t.Context(), store.GroupDomains, m))
		}, []View{ViewJSON, ViewTable, ViewMetrics}}, // the certificate no longer covers the names
		{"staged set appears", func(t *testing.T, dir string, st *store.Store, now time.Time) {
			m, err := st.LoadMD(t.Context(), store.GroupDomains, name)
			must(t, err)
			must(t, st.SaveMD(t.Context(), store.GroupStaging, m))
			c := &memoCA{t, certtest.New(t, certtest.Spec{CA: true, NotBefore: now.Add(-md.Day), NotAfter: now.Add(400 * md.Day)})}
			must(t, st.SaveChain(t.Context(), store.GroupStaging, name, "pubcert.secp256r1.pem", c.chain(name, now.Add(-time.Hour), now.Add(90*md.Day))))
			must(t, st.SaveJob(t.Context(), store.GroupStaging, name, job(name, now, true, 0, nil, [2]string{"finished", ""})))
		}, []View{ViewJSON, ViewTable, ViewMetrics}},
		{"OCSP response replaced", func(t *testing.T, dir string, st *store.Store, now time.Time) {
			data, err := st.Read(t.Context(), store.GroupDomains, name, "pubcert.secp256r1.pem")
			must(t, err)
			chain, err := store.ParseChainPEM(data)
			must(t, err)
			must(t, st.SaveJSON(t.Context(), store.GroupOCSP, name, "ocsp-"+NewCertInfo(chain).SHA1+".json", map[string]any{
				"response": "MIIB", "status": "revoked", "valid": md.Period{From: md.NewTime(now.Add(-time.Hour)), Until: md.NewTime(now.Add(md.Day))}}))
		}, []View{ViewJSON, ViewTable, ViewMetrics}},
		{"OCSP job written", func(t *testing.T, dir string, st *store.Store, now time.Time) {
			must(t, st.SaveJob(t.Context(), store.GroupOCSP, name, job(name, now, true, 1, &md.JobResult{Status: 1, Detail: "responder down"})))
		}, []View{ViewJSON, ViewMetrics}},
		{"revoked", func(t *testing.T, dir string, st *store.Store, now time.Time) {
			data, err := st.Read(t.Context(), store.GroupDomains, name, "pubcert.secp256r1.pem")
			must(t, err)
			chain, err := store.ParseChainPEM(data)
			must(t, err)
			must(t, st.SaveJSON(t.Context(), store.GroupRoot, "", store.RevokedFile(name), md.Revocations{Entries: []md.Revocation{{
				Serial: md.SerialHex(chain[0].SerialNumber), SHA256: NewCertInfo(chain).SHA256, Reason: "superseded", ReasonCode: 4,
				By: "account", At: md.NewTime(now)}}}))
		}, []View{ViewJSON, ViewTable}},
		{"MD removed", func(t *testing.T, dir string, st *store.Store, now time.Time) {
			must(t, os.RemoveAll(filepath.Join(dir, "domains", name)))
		}, []View{ViewJSON, ViewTable, ViewMetrics}},
		{"tmp set appears", func(t *testing.T, dir string, st *store.Store, now time.Time) {
			must(t, os.MkdirAll(filepath.Join(dir, "tmp", name), 0o700))
			must(t, os.WriteFile(filepath.Join(dir, "tmp", name, "md.json"), []byte("{}"), 0o600))
		}, nil},
		{"ARI window recorded", func(t *testing.T, dir string, st *store.Store, now time.Time) {
			must(t, st.SaveJSON(t.Context(), store.GroupRoot, "", store.ARIFile(name), map[string]any{"entries": map[string]any{}}))
		}, nil},
		{"memo corrupt", func(t *testing.T, dir string, st *store.Store, now time.Time) {
			for _, stage := range memoStages {
				must(t, os.WriteFile(filepath.Join(dir, memo.FileName(stage)), []byte("mdtools-memo 2\ngarbage"), 0o600))
			}
		}, nil},
		{"memo a symlink", func(t *testing.T, dir string, st *store.Store, now time.Time) {
			for _, stage := range memoStages {
				p := filepath.Join(dir, memo.FileName(stage))
				must(t, os.Rename(p, p+".target"))
				must(t, os.Symlink(p+".target", p))
			}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir, st, now := memoStore(t, 3)
			before := map[View]string{}
			for _, view := range memoViews {
				sameWithMemo(t, st, dir, view, now, "made")
				out, hits := sameWithMemo(t, st, dir, view, now, "used")
				if hits < 3 {
					t.Fatalf("view %d: %d hits before the change, want at least 3", view, hits)
				}
				before[view] = out
			}
			tt.change(t, dir, st, now)
			targets := map[string][]byte{}
			for _, stage := range memoStages {
				p := filepath.Join(dir, memo.FileName(stage)) + ".target"
				if b, err := os.ReadFile(p); err == nil {
					targets[p] = b
				}
			}
			for _, view := range memoViews {
				for _, what := range []string{"after the change", "again"} {
					out, _ := sameWithMemo(t, st, dir, view, now, what)
					if shows, want := out != before[view], slices.Contains(tt.shows, view); shows != want {
						t.Fatalf("view %d: the change shows: %v, want %v", view, shows, want)
					}
				}
			}
			for p, b := range targets {
				after, err := os.ReadFile(p)
				must(t, err)
				if !bytes.Equal(after, b) {
					t.Errorf("%s: written through the symlink", p)
				}
			}
		})
	}
}

// TestMemoNoStoreCreated: a memo directory that does not exist is not
// made (md-status never creates a store).
func TestMemoNoStoreCreated(t *testing.T) {
	dir, st, now := memoStore(t, 2)
	none := filepath.Join(t.TempDir(), "none")
	r := &Reader{Store: st, Now: func() time.Time { return now }, MemoDir: none, MemoContext: "test"}
	for _, view := range memoViews {
		opts := DefaultOptions()
		opts.Color = true
		var b bytes.Buffer
		_ = r.Render(t.Context(), &b, view, nil, opts)
		want, _ := renderAt(t, st, dir, view, now, false)
		if got := b.String(); !strings.HasPrefix(want, got) {
			t.Fatalf("view %d differs with a missing memo directory", view)
		}
	}
	if _, err := os.Lstat(none); !os.IsNotExist(err) {
		t.Fatalf("%s: %v, want it not to exist", none, err)
	}
}

// TestMemoFreshFilesNotRemembered: what was read from files written
// within memo.Margin is not remembered (a change in the same clock tick
// would not show).
func TestMemoFreshFilesNotRemembered(t *testing.T) {
	dir, st, now := memoStore(t, 3)
	memotest.Freshen(t, dir)
	for _, view := range memoViews {
		sameWithMemo(t, st, dir, view, now, "made")
		if _, hits := sameWithMemo(t, st, dir, view, now, "used"); hits != 0 {
			t.Fatalf("view %d: %d hits from fresh files, want 0", view, hits)
		}
	}
}

// TestMemoChangeWhileReading: a part is not remembered when the MD's
// files change while it is made, even if they look settled.
func TestMemoChangeWhileReading(t *testing.T) {
	dir, st, now := memoStore(t, 2)
	r := &Reader{Store: st, Now: func() time.Time { return now }, MemoDir: dir, MemoContext: "test"}
	const name = "site00001.example"
	for _, changed := range []bool{false, true} {
		os.Remove(filepath.Join(dir, memo.FileName(memoStages[ViewJSON])))
		vm := r.openViewMemo(ViewJSON)
		render := func(rep *Report) (part, error) {
			if changed {
				must(t, st.SaveJob(t.Context(), store.GroupDomains, name, job(name, now, true, 0, nil)))
				memotest.Age(t, filepath.Join(dir, "domains", name)) // settled again, but another ctime
			}
			return jsonPart(rep)
		}
		must(t, r.eachPart(t.Context(), []string{name}, vm, render, nil, func(part) error { return nil }))
		if got, want := vm.m.Len(), map[bool]int{false: 1, true: 0}[changed]; got != want {
			t.Errorf("changed while read: %v: %d parts remembered, want %d", changed, got, want)
		}
		vm.m.Close()
	}
}

// TestRowReportKeepsWhatRowReads: the row made from what the table's part
// keeps is the row of the whole report, for every MD of the memo tests and
// of the golden store, at every moment of memoOffsets.
func TestRowReportKeepsWhatRowReads(t *testing.T) {
	dir, st, now := memoStore(t, 24)
	gdir, gnow := buildStore(t)
	gst, err := store.OpenReadOnly(gdir)
	must(t, err)
	for _, s := range []struct {
		st  *store.Store
		now time.Time
	}{{st, now}, {gst, gnow}} {
		for _, off := range memoOffsets {
			at := s.now.Add(off)
			r := (&Reader{Store: s.st, Now: func() time.Time { return at }}).forView(ViewTable)
			names, err := r.Names(t.Context())
			must(t, err)
			for _, name := range names {
				rep, err := r.Load(t.Context(), name)
				must(t, err)
				got, err := rowAt(encodeRowReport(rep), rep.Now)
				must(t, err)
				if want := rep.Row(); got != want {
					t.Errorf("%s at +%v: from the part\n%+v\nwant\n%+v", name, off, got, want)
				}
			}
		}
	}
	_ = dir
}

// TestMemoWholeStoreOnly: the memo holds the MDs of the store: one that
// is gone is forgotten; a view of some MDs (NAME) neither reads nor
// changes it.
func TestMemoWholeStoreOnly(t *testing.T) {
	dir, st, now := memoStore(t, 3)
	entries := func(view View) int {
		m, err := memo.Open(dir, memoStages[view], "test")
		must(t, err)
		defer m.Close()
		return m.Len()
	}
	for i, view := range memoViews {
		name := fmt.Sprintf("site%05d.example", i) // one of the three, gone after this view
		sameWithMemo(t, st, dir, view, now, "made")
		file := filepath.Join(dir, memo.FileName(memoStages[view]))
		made, err := os.ReadFile(file)
		must(t, err)
		n := entries(view)
		r := &Reader{Store: st, Now: func() time.Time { return now.Add(time.Minute) }, MemoDir: dir, MemoContext: "test",
			MemoReport: func(s string) { t.Errorf("view %d of one MD used the memo: %s", view, s) }}
		must(t, r.Render(t.Context(), io.Discard, view, []string{name}, DefaultOptions()))
		if after, err := os.ReadFile(file); err != nil || !bytes.Equal(after, made) {
			t.Errorf("view %d of one MD changed the memo (%v)", view, err)
		}
		must(t, os.RemoveAll(filepath.Join(dir, "domains", name)))
		sameWithMemo(t, st, dir, view, now, "one MD gone")
		if got := entries(view); got != n-1 {
			t.Errorf("view %d: %d MDs in the memo after one is gone, want %d", view, got, n-1)
		}
	}
}

func TestWorthSaving(t *testing.T) {
	for _, tc := range []struct {
		changed, total int64
		want           bool
	}{{0, 10, false}, {1, 10, true}, {1, 64, true}, {1, 65, false}, {1562, 100000, false}, {1563, 100000, true},
		{4095, 1 << 20, false}, {4096, 1 << 20, true}} {
		if got := worthSaving(tc.changed, tc.total); got != tc.want {
			t.Errorf("worthSaving(%d, %d) = %v", tc.changed, tc.total, got)
		}
	}
}
