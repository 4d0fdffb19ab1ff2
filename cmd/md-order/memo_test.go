package main

import (
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/acmeflow"
	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/memo/memotest"
	"github.com/mdtools/mdtools/lib/ocspfile"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
)

// memoStore is a store of three MDs with fresh live certificates and
// md.json, nothing due, and the records for them.
func memoStore(t *testing.T, dead string) (string, []*md.Record) {
	dir := t.TempDir()
	st := mustStore(t, dir)
	var recs []*md.Record
	for _, name := range []string{"a.test", "b.test", "c.test"} {
		liveFresh(t, st, name)
		rec := record([]string{dead}, name)
		rec.ARIRenewals = name == "c.test"
		if err := st.SaveMD(t.Context(), store.GroupDomains, &rec.MD); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	// c.test asks ARI: its cached answer is good for another day.
	leaf, _ := st.LoadChain(t.Context(), store.GroupDomains, "c.test", "pubcert.pem")
	id, err := acmeflow.CertID(leaf[0])
	if err != nil {
		t.Fatal(err)
	}
	ari := map[string]any{"entries": map[string]any{id: map[string]any{"retry-after": md.NewTime(time.Now().Add(24 * time.Hour))}}}
	if err := st.SaveJSON(t.Context(), store.GroupRoot, "", store.ARIFile("c.test"), ari); err != nil {
		t.Fatal(err)
	}
	st.Close()
	return dir, recs
}

// TestMemoDecidesAsWithout is issue 17's proof for md-order's memo: on a
// table of store changes made after the memo was written, md-order with
// the memo answers every record as md-order without it (on a copy of the
// same store), and replays only the records nothing changed for.
func TestMemoDecidesAsWithout(t *testing.T) {
	dead := deadURL(t)
	type change struct {
		name   string
		mutate func(t *testing.T, dir string, recs []*md.Record)
		hits   string // records replayed after the change
		action string // the changed MD's (a.test's) action
	}
	leafOf := func(t *testing.T, dir, name string) (st *store.Store, leaf *x509.Certificate, fp, serial string) {
		st = mustStore(t, dir)
		chain, err := st.LoadChain(t.Context(), store.GroupDomains, name, "pubcert.pem")
		if err != nil {
			t.Fatal(err)
		}
		return st, chain[0], renew.Fingerprint(chain[0]), strings.ToUpper(chain[0].SerialNumber.Text(16))
	}
	changes := []change{
		{"nothing", func(*testing.T, string, []*md.Record) {}, "3", "none"},
		{"live certificate removed", func(t *testing.T, dir string, _ []*md.Record) {
			os.Remove(filepath.Join(dir, "domains", "a.test", "pubcert.pem"))
		}, "2", "failed"},
		{"live certificate near its end", func(t *testing.T, dir string, _ []*md.Record) {
			st := mustStore(t, dir)
			defer st.Close()
			c := selfSigned(t, "a.test", time.Now().Add(-80*24*time.Hour), time.Now().Add(24*time.Hour))
			if err := st.SaveChain(t.Context(), store.GroupDomains, "a.test", "pubcert.pem", c); err != nil {
				t.Fatal(err)
			}
		}, "2", "failed"},
		{"job in backoff", func(t *testing.T, dir string, _ []*md.Record) {
			st := mustStore(t, dir)
			defer st.Close()
			job := &md.Job{Name: "a.test", Errors: 2, NextRun: md.NewTime(time.Now().Add(time.Hour)),
				Last: &md.JobResult{Status: 1, Problem: "urn:ietf:params:acme:error:serverInternal", Detail: "boom"}}
			if err := st.SaveJob(t.Context(), store.GroupStaging, "a.test", job); err != nil {
				t.Fatal(err)
			}
		}, "2", "backoff"},
		{"OCSP says revoked", func(t *testing.T, dir string, _ []*md.Record) {
			st, leaf, _, _ := leafOf(t, dir, "a.test")
			defer st.Close()
			s := &ocspfile.Stored{Status: ocspfile.StatusRevoked, Response: "AAAA"}
			if err := st.SaveJSON(t.Context(), store.GroupOCSP, "a.test", ocspfile.ResponseFile(ocspfile.CertID(leaf.Raw)), s); err != nil {
				t.Fatal(err)
			}
		}, "2", "failed"},
		{"revoked with md-order revoke", func(t *testing.T, dir string, _ []*md.Record) {
			st, _, fp, serial := leafOf(t, dir, "a.test")
			defer st.Close()
			revs := &md.Revocations{Entries: []md.Revocation{{Name: "a.test", Serial: serial, SHA256: fp, Reason: "superseded", By: "account", At: md.NewTime(time.Now())}}}
			if err := st.SaveJSON(t.Context(), store.GroupRoot, "", store.RevokedFile("a.test"), revs); err != nil {
				t.Fatal(err)
			}
		}, "2", "failed"},
		{"ARI window reached", func(t *testing.T, dir string, _ []*md.Record) {
			st, leaf, _, _ := leafOf(t, dir, "c.test")
			defer st.Close()
			id, _ := acmeflow.CertID(leaf)
			ari := map[string]any{"entries": map[string]any{id: map[string]any{
				"start": md.NewTime(time.Now().Add(-time.Hour)), "end": md.NewTime(time.Now().Add(-time.Minute)),
				"retry-after": md.NewTime(time.Now().Add(24 * time.Hour))}}}
			if err := st.SaveJSON(t.Context(), store.GroupRoot, "", store.ARIFile("c.test"), ari); err != nil {
				t.Fatal(err)
			}
		}, "2", "failed"},
		{"configuration changed", func(_ *testing.T, _ string, recs []*md.Record) {
			recs[0].RenewWindow = &md.Timeslice{Duration: 91 * 24 * time.Hour}
		}, "2", "failed"},
		{"store key changed", func(t *testing.T, dir string, _ []*md.Record) {
			p := filepath.Join(dir, "md_store.json")
			data, _ := os.ReadFile(p)
			os.WriteFile(p+".new", append(data, ' '), 0o600)
			os.Rename(p+".new", p)
		}, "0", "none"},
		{"memo corrupt", func(t *testing.T, dir string, _ []*md.Record) {
			p := filepath.Join(dir, memo.FileName("order"))
			data, _ := os.ReadFile(p)
			data[len(data)/2] ^= 0xff
			os.WriteFile(p, data, 0o600)
		}, "0", "none"},
		{"memo a symlink", func(t *testing.T, dir string, _ []*md.Record) {
			p := filepath.Join(dir, memo.FileName("order"))
			os.Rename(p, p+".real")
			os.Symlink(p+".real", p)
		}, "0", "none"},
	}
	for _, tc := range changes {
		t.Run(tc.name, func(t *testing.T) {
			dir, recs := memoStore(t, dead)
			memotest.Age(t, dir)
			first := runOrder(t, jsonl(t, recs...), "--store", dir)
			if first.code != 0 {
				t.Fatalf("first run: exit %d\n%s", first.code, first.stderr)
			}
			again := runOrder(t, jsonl(t, recs...), "--store", dir, "-v")
			if h := memotest.Hits(again.stderr); h != "3" {
				t.Fatalf("unchanged store: %s of 3 answered from the memo\n%s", h, again.stderr)
			}
			tc.mutate(t, dir, recs)
			twin := filepath.Join(t.TempDir(), "twin")
			if out, err := exec.Command("cp", "-a", dir, twin).CombinedOutput(); err != nil {
				t.Fatalf("cp: %v %s", err, out)
			}
			with := runOrder(t, jsonl(t, recs...), "--store", dir, "-v")
			t.Setenv(cli.NoMemoEnv, "1")
			without := runOrder(t, jsonl(t, recs...), "--store", twin, "-v")
			if h := memotest.Hits(with.stderr); h != tc.hits {
				t.Errorf("%s of 3 answered from the memo, want %s\n%s", h, tc.hits, with.stderr)
			}
			if h := memotest.Hits(without.stderr); h != "none" {
				t.Errorf("with %s set the memo was used: %s", cli.NoMemoEnv, h)
			}
			if with.code != without.code {
				t.Errorf("exit %d with the memo, %d without", with.code, without.code)
			}
			for i := range recs {
				w, o := with.recs[i], without.recs[i]
				if w.Order.Action != o.Order.Action || (w.Error == nil) != (o.Error == nil) || !w.Order.RenewAt.Equal(o.Order.RenewAt.Time) {
					t.Errorf("%s: with the memo %+v %+v, without %+v %+v", w.Name, w.Order, w.Error, o.Order, o.Error)
				}
			}
			changed := with.recs[0]
			if tc.name == "ARI window reached" {
				changed = with.recs[2]
			}
			if changed.Order.Action != tc.action && !(tc.action == "failed" && changed.Error != nil) {
				t.Errorf("%s: action %q (error %+v), want %s", changed.Name, changed.Order.Action, changed.Error, tc.action)
			}
		})
	}
}

// TestMemoNotWrittenForFreshFiles: an answer read from files changed
// within memo.Margin is not remembered (a change in the same clock tick
// would not show), and --force and --dry-run never use the memo.
func TestMemoNotWrittenForFreshFiles(t *testing.T) {
	dead := deadURL(t)
	dir, recs := memoStore(t, dead)
	in := jsonl(t, recs...)
	memotest.Freshen(t, dir)
	runOrder(t, in, "--store", dir)
	if res := runOrder(t, in, "--store", dir, "-v"); memotest.Hits(res.stderr) != "0" {
		t.Errorf("fresh files: %s answered from the memo\n%s", memotest.Hits(res.stderr), res.stderr)
	}
	memotest.Age(t, dir)
	runOrder(t, in, "--store", dir)
	if res := runOrder(t, in, "--store", dir, "-v"); memotest.Hits(res.stderr) != "3" {
		t.Errorf("aged files: %s answered from the memo\n%s", memotest.Hits(res.stderr), res.stderr)
	}
	if res := runOrder(t, in, "--store", dir, "-v", "--dry-run"); memotest.Hits(res.stderr) != "none" {
		t.Errorf("--dry-run used the memo")
	}
}
