package install

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// badSet builds a staged set that must be rejected.
type badSet struct {
	name  string
	build func(t *testing.T, st *store.Store, rec *md.Record) // writes staging
	now   func(good []stagedCred) time.Time
	want  string
}

func TestBadStagedSetsRejected(t *testing.T) {
	t.Parallel()
	rec0 := testRecord("bad.test", md.KeySpecs{ecSpec})
	good := freshCreds(t, rec0)   // the live set
	staged := freshCreds(t, rec0) // a valid renewal, to be damaged
	other := freshCreds(t, testRecord("other.test", md.KeySpecs{ecSpec}))
	cases := []badSet{
		{name: "wrong key", want: "does not match the private key", build: func(t *testing.T, st *store.Store, rec *md.Record) {
			stageSet(t, st, rec, []stagedCred{{spec: ecSpec, key: newKey(t, ecSpec), chain: staged[0].chain}})
		}},
		{name: "truncated PEM", want: "pubcert", build: func(t *testing.T, st *store.Store, rec *md.Record) {
			stageSet(t, st, rec, staged)
			data, _ := st.Read(t.Context(), store.GroupStaging, rec.Name, ecSpec.FileName("pubcert"))
			if err := st.Write(t.Context(), store.GroupStaging, rec.Name, ecSpec.FileName("pubcert"), data[:len(data)/2]); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "cert for other names", want: "does not cover bad.test", build: func(t *testing.T, st *store.Store, rec *md.Record) {
			stageSet(t, st, rec, other)
		}},
		{name: "expired cert", want: "expired", build: func(t *testing.T, st *store.Store, rec *md.Record) {
			stageSet(t, st, rec, staged)
		}, now: func([]stagedCred) time.Time { return staged[0].chain[0].NotAfter.Add(time.Hour) }},
		{name: "no chain", want: "without its issuer chain", build: func(t *testing.T, st *store.Store, rec *md.Record) {
			stageSet(t, st, rec, []stagedCred{{spec: ecSpec, key: staged[0].key, chain: staged[0].chain[:1]}})
		}},
		{name: "missing key spec", want: "no rsa certificate", build: func(t *testing.T, st *store.Store, rec *md.Record) {
			rec.PrivKey = md.KeySpecs{ecSpec, {Type: md.KeyRSA, Bits: 2048}}
			stageSet(t, st, rec, staged)
		}},
		{name: "garbage md.json", want: "md.json", build: func(t *testing.T, st *store.Store, rec *md.Record) {
			stageSet(t, st, rec, staged)
			if err := st.Write(t.Context(), store.GroupStaging, rec.Name, store.FileMD, []byte("{garbage")); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "missing key", want: "private key", build: func(t *testing.T, st *store.Store, rec *md.Record) {
			stageSet(t, st, rec, staged)
			if err := st.Remove(t.Context(), store.GroupStaging, rec.Name, ecSpec.FileName("privkey")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st, dir := openStore(t)
			rec := testRecord("bad.test", md.KeySpecs{ecSpec})
			stageSet(t, st, rec, good)
			if err := run(t, st, time.Now(), testRecord("bad.test", md.KeySpecs{ecSpec})); err != nil {
				t.Fatal(err)
			}
			liveBefore := tree(t, filepath.Join(dir, "domains", "bad.test"))
			tc.build(t, st, rec)
			now := time.Now()
			if tc.now != nil {
				now = tc.now(good)
			}
			if err := run(t, st, now, rec); err != nil {
				t.Fatal(err)
			}
			if rec.Error == nil || rec.Error.Problem != ProblemInvalidStaging || !strings.Contains(rec.Error.Detail, tc.want) {
				t.Fatalf("error = %+v; want %s containing %q", rec.Error, ProblemInvalidStaging, tc.want)
			}
			if rec.Install.Action != "rejected" {
				t.Errorf("action %q", rec.Install.Action)
			}
			liveAfter := tree(t, filepath.Join(dir, "domains", "bad.test"))
			liveAfterNoJob := dropLine(liveAfter, "job.json")
			if dropLine(liveBefore, "job.json") != liveAfterNoJob {
				t.Errorf("live set changed:\n%s\n---\n%s", liveBefore, liveAfter)
			}
			if got := liveFingerprint(t, st, "bad.test", ecSpec); got != Fingerprint(good[0].chain[0]) {
				t.Errorf("live cert replaced")
			}
			job, _ := st.LoadJob(t.Context(), store.GroupDomains, "bad.test")
			e, ok := job.LastEntry("install-error")
			if !ok || e.Status != ProblemInvalidStaging || !strings.Contains(e.Detail, tc.want) {
				t.Errorf("job log: %+v", job.Log.Entries)
			}
			if st.Exists(t.Context(), store.GroupStaging, "bad.test", store.FileMD) {
				t.Errorf("rejected staged set not purged")
			}
		})
	}
}

func dropLine(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if !strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestNotReadyIsKept(t *testing.T) {
	t.Parallel()
	rec := testRecord("w.test", md.KeySpecs{ecSpec})
	live := freshCreds(t, rec)
	next := freshCreds(t, rec)
	nb := next[0].chain[0].NotBefore
	tests := []struct {
		name    string
		now     time.Time
		delay   string
		wantAct string
		ready   time.Time
	}{
		{"before notBefore", nb.Add(-time.Hour), "", "waiting", nb},
		{"activation delay", nb.Add(time.Hour), "2d", "waiting", nb.Add(48 * time.Hour)},
		{"delay over", nb.Add(49 * time.Hour), "2d", "activated", time.Time{}},
		{"no delay", nb.Add(time.Minute), "", "activated", time.Time{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			st, _ := openStore(t)
			stageSet(t, st, rec, live)
			if err := run(t, st, live[0].chain[0].NotBefore.Add(time.Minute), testRecord("w.test", md.KeySpecs{ecSpec})); err != nil {
				t.Fatal(err)
			}
			stageSet(t, st, rec, next)
			r := testRecord("w.test", md.KeySpecs{ecSpec})
			r.Settings = &md.Settings{ActivationDelay: tc.delay}
			if err := run(t, st, tc.now, r); err != nil {
				t.Fatal(err)
			}
			if r.Install.Action != tc.wantAct || r.Error != nil {
				t.Fatalf("install %+v error %+v", r.Install, r.Error)
			}
			if !tc.ready.IsZero() && !r.Install.ReadyAt.Equal(tc.ready.Truncate(time.Second)) {
				t.Errorf("ready-at %v; want %v", r.Install.ReadyAt, tc.ready)
			}
			stagedStill := st.Exists(t.Context(), store.GroupStaging, "w.test", store.FileMD)
			if stagedStill != (tc.wantAct == "waiting") {
				t.Errorf("staging kept = %v", stagedStill)
			}
		})
	}
}

func TestUnfinishedStagingLeftToMdOrder(t *testing.T) {
	t.Parallel()
	st, dir := openStore(t)
	rec := testRecord("u.test", md.KeySpecs{ecSpec})
	stageSet(t, st, rec, freshCreds(t, rec))
	job := &md.Job{Name: "u.test"} // md-order still at work
	if err := st.SaveJob(t.Context(), store.GroupStaging, "u.test", job); err != nil {
		t.Fatal(err)
	}
	before := tree(t, dir)
	if err := run(t, st, time.Now(), rec); err != nil {
		t.Fatal(err)
	}
	if rec.Install.Action != "none" || rec.Error != nil {
		t.Errorf("install %+v error %+v", rec.Install, rec.Error)
	}
	if tree(t, dir) != before {
		t.Errorf("an unfinished staged set was touched")
	}
}
