// Package registry keeps the MD definitions in the store in step with the
// configuration, as mod_md does at startup: it writes domains/<md>/md.json
// when the definition changed, keeps what the store knows and the config
// does not (ca.account, ...), and detects renamed MDs so that their
// directories move instead of being ordered again (spec §2.2, §2.6).
//
// A sync plans first and writes afterwards: every file it needs is read
// and checked before the first write, so a corrupt md.json stops it with
// nothing changed.
package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"runtime"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/memo"
	"github.com/mdtools/mdtools/lib/pool"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
)

// Options steer a sync.
type Options struct {
	DryRun bool          // compute, write nothing (and take no lock)
	Wait   time.Duration // how long to wait for the store-wide lock; 0: the store's default, <0: try once
	// Now is the clock of the memo's time window (default time.Now).
	Now func() time.Time
	// Memo, if set (OpenMemo), remembers for an MD whose md.json needed
	// no write what the store added to its record, and replays it while
	// domains/<md> and the record stay the same (lib/memo). Saved by the
	// caller.
	Memo *memo.Memo
	// Others names configured MDs that are not among the records (the
	// caller answered them from the memo, see Recall): their stored sets
	// are theirs, never taken for a rename.
	Others []string
}

func (o Options) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// Result says what a sync did (or would do).
type Result struct {
	Written   []string          // MD names whose md.json was (re)written
	Unchanged []string          // MD names already in step
	Renamed   map[string]string // old name -> new name
	HTTPD     bool              // httpd.json was (re)written
	Warnings  []string          // stored sets that were skipped, and why
	Replayed  int               // MDs completed from the memo (Options.Memo)
	// Lines holds, for the records the memo answered, their output line
	// as the sync completed them, to be put together with the record's
	// own sources (the records themselves are left as the config made
	// them).
	Lines map[*md.Record]md.SourceLine
	// Keys, when the memo holds the answer of every record after this
	// sync (replayed, or remembered now) and no record was left out, are
	// their keys in record order (md-parse's run memo keeps them, see
	// ReplayRun); nil otherwise.
	Keys []memo.Key
}

// Sync brings the store's definitions in step with recs, and fills recs
// with the stored values the config lacks. It takes the store-wide lock.
// Records that carry an error are left alone.
func Sync(ctx context.Context, st *store.Store, recs []*md.Record, opts Options) (*Result, error) {
	if !opts.DryRun {
		unlock, err := st.Lock(ctx, "", opts.Wait)
		if err != nil {
			return nil, fmt.Errorf("syncing MDs into %s: %w", st, err)
		}
		defer unlock()
	}
	p, err := plan(ctx, st, recs, opts.Memo, opts.Others, opts.now())
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !opts.DryRun {
		if err := p.apply(ctx, st); err != nil {
			return nil, err
		}
	}
	return &p.result, nil
}

// syncPlan is what a sync will do, computed without writing.
type syncPlan struct {
	renames []rename
	writes  []*md.MD
	httpd   *httpdFile
	result  Result
}

type rename struct {
	from, to string
	staging  bool // staging/<from> moves too
}

// plan reads the store and decides, for every record, what to write.
func plan(ctx context.Context, st *store.Store, recs []*md.Record, m *memo.Memo, others []string, now time.Time) (*syncPlan, error) {
	p := &syncPlan{result: Result{Renamed: map[string]string{}}}
	active, names, err := activeRecords(recs)
	if err != nil {
		return nil, err
	}
	for _, n := range others {
		if names[n] {
			return nil, fmt.Errorf("MD %q is defined twice", n)
		}
		names[n] = true
	}
	stored, err := st.List(ctx, store.GroupDomains)
	if err != nil {
		return nil, fmt.Errorf("listing %s/domains: %w", st, err)
	}
	from := p.planRenames(ctx, st, active, names, stored)
	// md_reg_sync_finish for each record, in parallel (the reads and the
	// hashing are the cost: a first run over 100,000 MDs read one after
	// the other took 24 s); the outcomes are merged in record order.
	outs := make([]recordOutcome, len(active))
	pool.Each(len(active), runtime.GOMAXPROCS(0), func(i int) {
		if ctx.Err() != nil {
			return
		}
		outs[i] = examine(ctx, st, m, active[i], from, now)
	})
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	for i, r := range active {
		o := &outs[i]
		if o.err != nil {
			return nil, o.err
		}
		switch {
		case o.line.Line != nil:
			p.result.Unchanged = append(p.result.Unchanged, r.Name)
			p.result.Replayed++
			if p.result.Lines == nil {
				p.result.Lines = map[*md.Record]md.SourceLine{}
			}
			p.result.Lines[r] = o.line
		case o.write != nil:
			p.writes = append(p.writes, o.write)
			p.result.Written = append(p.result.Written, r.Name)
		default:
			p.result.Unchanged = append(p.result.Unchanged, r.Name)
		}
		if o.warning != "" {
			p.result.Warnings = append(p.result.Warnings, o.warning)
		}
	}
	p.planHTTPD(ctx, st, active)
	if m != nil && len(active) == len(recs) && len(p.renames) == 0 && len(p.result.Warnings) == 0 {
		p.result.Keys = make([]memo.Key, len(active))
		for i := range outs {
			if !outs[i].remembered {
				p.result.Keys = nil
				break
			}
			p.result.Keys[i] = outs[i].key
		}
	}
	return p, nil
}

// activeRecords returns the records to sync (those without an error) and
// their names; an invalid or twice-defined record stops the sync before
// anything is read.
func activeRecords(recs []*md.Record) ([]*md.Record, map[string]bool, error) {
	var active []*md.Record
	names := map[string]bool{}
	for _, r := range recs {
		if r == nil || r.Error != nil {
			continue
		}
		if err := r.Validate(); err != nil {
			return nil, nil, fmt.Errorf("MD %q: %w", r.Name, err)
		}
		if names[r.Name] {
			return nil, nil, fmt.Errorf("MD %q is defined twice", r.Name)
		}
		names[r.Name] = true
		active = append(active, r)
	}
	return active, names, nil
}

// planRenames returns, for every record, the stored set to read its old
// definition from: its own, or that of a stored MD it renames
// (md_reg_sync_start: configured names missing from domains/ may be
// renames of stored MDs that no configured name claims).
func (p *syncPlan) planRenames(ctx context.Context, st *store.Store, active []*md.Record, names map[string]bool, stored []string) map[string]string {
	storedSet := map[string]bool{}
	for _, n := range stored {
		storedSet[n] = true
	}
	from := map[string]string{} // record name -> stored set to read
	var maybeNew []*md.Record
	for _, r := range active {
		if storedSet[r.Name] {
			from[r.Name] = r.Name
		} else {
			maybeNew = append(maybeNew, r)
		}
	}
	if len(maybeNew) == 0 {
		return from
	}
	unassigned := p.unassigned(ctx, st, stored, names)
	for _, r := range maybeNew {
		old := closestMatch(unassigned, &r.MD)
		if old == nil {
			continue
		}
		rn := rename{from: old.Name, to: r.Name, staging: st.Exists(ctx, store.GroupStaging, old.Name, "")}
		if rn.staging && st.Exists(ctx, store.GroupStaging, r.Name, "") {
			// mod_md ignores a failed staging rename; the stale set stays
			rn.staging = false
			p.result.Warnings = append(p.result.Warnings,
				fmt.Sprintf("staging/%s not moved to staging/%s, which exists", old.Name, r.Name))
		}
		p.renames = append(p.renames, rn)
		p.result.Renamed[old.Name] = r.Name
		from[r.Name] = old.Name
		unassigned = removeMD(unassigned, old)
	}
	return from
}

// unassigned reads the stored MDs no configured name claims, the
// candidates for a rename; an unreadable one is skipped with a warning.
func (p *syncPlan) unassigned(ctx context.Context, st *store.Store, stored []string, names map[string]bool) []*md.MD {
	var unassigned []*md.MD
	for _, n := range stored {
		if names[n] {
			continue
		}
		old, err := st.LoadMD(ctx, store.GroupDomains, n)
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				p.result.Warnings = append(p.result.Warnings,
					fmt.Sprintf("domains/%s not considered for renames: %v", n, err))
			}
			continue
		}
		old.Name = n // the directory is what moves
		unassigned = append(unassigned, old)
	}
	return unassigned
}

// recordOutcome is what the sync decided for one record.
type recordOutcome struct {
	line       md.SourceLine // the memo's output line: replayed, nothing read
	write      *md.MD        // md.json to write
	warning    string
	err        error
	key        memo.Key
	remembered bool // the memo holds the answer (replayed or put now)
}

// examine decides one record: replayed from the memo m, or completed
// from the store (planRecord) and remembered when that needed no write
// and gave no warning. It touches only r, so records are examined
// concurrently.
func examine(ctx context.Context, st *store.Store, m *memo.Memo, r *md.Record, from map[string]string, now time.Time) (o recordOutcome) {
	src, hasOld := from[r.Name]
	key, split, memoable := memoKey(m, r)
	memoable = memoable && hasOld && src == r.Name
	o.key = key
	var before uint64
	if memoable {
		if line, ok := replay(m, key, r, now); ok {
			o.line, o.remembered = line, true
			return o
		}
		before, _ = m.Fingerprint(memoPaths(r.Name), nil)
	}
	o.write, o.warning, o.err = planRecord(ctx, st, r, src, hasOld)
	if o.err == nil && memoable && o.write == nil && o.warning == "" {
		// the line is not kept for the output (encoded again there): the
		// memo holds it in its spill file; here it was 60 MB over 100,000
		// MDs
		o.remembered = rememberSync(m, key, split, r, before, now)
	}
	return o
}

// planRecord completes one record from the store (state, stored fields)
// and returns its definition to write when md.json must be (re)written;
// src names the stored set holding its old definition when hasOld.
func planRecord(ctx context.Context, st *store.Store, r *md.Record, src string, hasOld bool) (write *md.MD, warning string, err error) {
	if err := complete(r); err != nil {
		return nil, "", err
	}
	var unreadable error
	r.State, r.StateDescr, unreadable = renew.StoredState(ctx, st, src, &r.MD)
	if unreadable != nil {
		warning = fmt.Sprintf("md[%s]: certificate unreadable (state error): %v", r.Name, unreadable)
	}
	var old *md.MD
	if hasOld {
		old, err = st.LoadMD(ctx, store.GroupDomains, src)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			old, err = nil, nil
		case err != nil:
			return nil, "", fmt.Errorf("reading the stored definition of MD %q: %w", r.Name, err)
		}
	}
	if old != nil {
		keepStored(&r.MD, old)
		if sameDefinition(&r.MD, old) && sameEAB(r.MD.EAB, old.EAB) {
			return nil, warning, nil
		}
	}
	w := r.MD
	if old != nil && len(w.Extra) == 0 {
		w.Extra = old.Extra // fields of a newer mod_md survive the rewrite
	}
	return &w, warning, nil
}

// planHTTPD decides whether httpd.json, the reachability of ports 80 and
// 443, must be written: the first record that sets it wins.
func (p *syncPlan) planHTTPD(ctx context.Context, st *store.Store, active []*md.Record) {
	for _, r := range active {
		if r.Settings != nil && r.Settings.Reachable != nil {
			want := httpdFile{Proto: httpdProto{HTTP: r.Settings.Reachable.HTTP, HTTPS: r.Settings.Reachable.HTTPS}}
			if cur, ok := loadHTTPD(ctx, st); !ok || cur != want {
				p.httpd = &want
				p.result.HTTPD = true
			}
			return
		}
	}
}

// apply carries out a plan.
func (p *syncPlan) apply(ctx context.Context, st *store.Store) error {
	for _, rn := range p.renames {
		if err := st.Move(ctx, store.GroupDomains, rn.from, store.GroupDomains, rn.to); err != nil {
			return fmt.Errorf("renaming MD %s to %s: %w", rn.from, rn.to, err)
		}
		if rn.staging {
			if err := st.Move(ctx, store.GroupStaging, rn.from, store.GroupStaging, rn.to); err != nil {
				return fmt.Errorf("renaming staged MD %s to %s: %w", rn.from, rn.to, err)
			}
		}
	}
	for _, m := range p.writes {
		if err := st.SaveMD(ctx, store.GroupDomains, m); err != nil {
			return fmt.Errorf("writing the definition of MD %q: %w", m.Name, err)
		}
	}
	if p.httpd != nil {
		if err := st.SaveJSON(ctx, store.GroupRoot, "", store.FileHTTPD, p.httpd); err != nil {
			return fmt.Errorf("writing %s: %w", store.FileHTTPD, err)
		}
	}
	return nil
}

// complete fills what mod_md's protocol driver and state_init fill before
// comparing: the protocol, the default CA, the default windows, and manual
// renewal for static certificate files in auto mode.
func complete(r *md.Record) error {
	r.ApplyDefaults()
	if r.CA.Proto != md.ProtoACME {
		return fmt.Errorf("[%s] uses unknown CA protocol '%s'", r.Name, r.CA.Proto)
	}
	return nil
}

// keepStored copies what the config lacks from the stored definition, as
// md_reg_sync_finish: contacts, the effective CA URL and the account.
func keepStored(m, old *md.MD) {
	if len(m.Contacts) == 0 && len(old.Contacts) > 0 {
		m.Contacts = append([]string(nil), old.Contacts...)
	}
	if old.CA != nil {
		if m.CA.URL == "" && old.CA.URL != "" {
			m.CA.URL = old.CA.URL
		}
		if m.CA.Account == "" && old.CA.Account != "" {
			m.CA.Account = old.CA.Account
		}
	}
}

// sameDefinition is md_reg_sync_finish's test for "nothing changed", over
// the fields mod_md compares (plus the name, which mod_md leaves out so a
// renamed MD whose domains stayed the same would keep its old name inside
// md.json). Fields mod_md does not compare (cmd-dns-01, proxy-url,
// ca-certs, proxy-ca-certs, profile, ca.url, ca.account) do not cause
// a rewrite on their own; the EAB is compared apart (sameEAB).
func sameDefinition(m, old *md.MD) bool {
	oldURLs := old.EffectiveCAURLs()
	if old.CA == nil || (len(old.CA.URLs) == 0 && old.CA.URL == "") {
		oldURLs = nil
	}
	var oldCA md.CA
	if old.CA != nil {
		oldCA = *old.CA
	}
	oldState := old.State
	if oldState == md.StateExpired {
		oldState = md.StateComplete
	}
	return m.Name == old.Name &&
		m.State == oldState &&
		strEq(m.CA.URLs, oldURLs) &&
		m.CA.Proto == oldCA.Proto &&
		m.CA.Agreement == oldCA.Agreement &&
		m.Transitive == old.Transitive &&
		sameDomains(m.Domains, old.Domains) &&
		m.RenewMode == old.RenewMode &&
		sliceEq(m.RenewWindow, old.RenewWindow) &&
		sliceEq(m.WarnWindow, old.WarnWindow) &&
		keysEq(m.PrivKey, old.PrivKey) &&
		m.RequireHTTPS == old.RequireHTTPS &&
		m.MustStaple == old.MustStaple &&
		strEq(m.Proto.ACMETLS1, old.Proto.ACMETLS1) &&
		m.Stapling == old.Stapling &&
		m.ProfileMandatory == old.ProfileMandatory &&
		m.ARIRenewals == old.ARIRenewals &&
		m.ReuseKey == old.ReuseKey && m.PreferredChain == old.PreferredChain &&
		strEq(m.Contacts, old.Contacts) &&
		strEq(m.CertFiles, old.CertFiles) &&
		strEq(m.PKeyFiles, old.PKeyFiles) &&
		strEq(dedupe(m.CA.Challenges), dedupe(oldCA.Challenges))
}

// sameEAB reports whether the stored EAB is the configured one. mod_md
// does not compare it (its driver uses the configuration in memory), but
// md-order reads the HMAC from the store, so a changed binding, or a
// stored HMAC a command once wrote as "***", must be rewritten.
func sameEAB(conf, stored *md.EAB) bool {
	if conf == nil || conf.KID == "" {
		return stored == nil || stored.KID == ""
	}
	if conf.HMAC == md.RedactedSecret {
		// not from a configuration: nothing to compare it with
		return stored != nil && stored.KID == conf.KID
	}
	return stored != nil && *stored == *conf
}

// strEq compares string lists in order; nil equals empty.
func strEq(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sameDomains is md_equal_domains: same count, and every name of a in b,
// in any order. Unlike mod_md's md_contains it does not let a wildcard of b
// stand for a name of a: replacing "*.x.org" by "www.x.org" in the config
// must reach the stored definition.
func sameDomains(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	inB := make(map[string]bool, len(b)) // a map: 200,000 names stay linear
	for _, d := range b {
		inB[d] = true
	}
	for _, d := range a {
		if !inB[d] {
			return false
		}
	}
	return true
}

func dedupe(list []string) []string {
	var out []string
	seen := make(map[string]bool, len(list))
	for _, s := range list {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}

func sliceEq(a, b *md.Timeslice) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.IsPercent == b.IsPercent && (a.IsPercent && a.Percent == b.Percent || !a.IsPercent && a.Duration == b.Duration)
}

// keysEq is md_pkeys_spec_eq: equal lists of specs; no specs on both
// sides counts as equal.
func keysEq(a, b md.KeySpecs) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.Type != y.Type {
			return false
		}
		switch x.Type {
		case md.KeyRSA:
			if x.Bits != y.Bits {
				return false
			}
		case md.KeyEC:
			if x.Curve != y.Curve {
				return false
			}
		}
	}
	return true
}

// closestMatch is mod_md's find_closest_match: the first stored MD that
// contains all of m's names, else the one sharing the most names with m
// (the first of equals), else nil.
func closestMatch(stored []*md.MD, m *md.MD) *md.MD {
	for _, o := range stored {
		if containsDomains(o, m) {
			return o
		}
	}
	var best *md.MD
	bestN := 0
	for _, o := range stored {
		if n := commonNames(m, o); n > bestN {
			best, bestN = o, n
		}
	}
	return best
}

// containsDomains is md_contains_domains: every name of m is in o.
func containsDomains(o, m *md.MD) bool {
	if len(o.Domains) < len(m.Domains) {
		return false
	}
	in := md.NewDomainSet(o.Domains...)
	for _, d := range m.Domains {
		if !in.Covers(d) {
			return false
		}
	}
	return true
}

// commonNames is md_common_name_count: names of a that b contains.
func commonNames(a, b *md.MD) int {
	in := md.NewDomainSet(b.Domains...)
	n := 0
	for _, d := range a.Domains {
		if in.Covers(d) {
			n++
		}
	}
	return n
}

func removeMD(list []*md.MD, m *md.MD) []*md.MD {
	out := list[:0]
	for _, o := range list {
		if o != m {
			out = append(out, o)
		}
	}
	return out
}

// httpdFile is the store's httpd.json.
type httpdFile struct {
	Proto httpdProto `json:"proto"`
}

type httpdProto struct {
	HTTP  bool `json:"http"`
	HTTPS bool `json:"https"`
}

// loadHTTPD reads httpd.json as mod_md's load_props: a missing file or key
// means reachable; an unreadable file counts as missing (mod_md deletes it).
func loadHTTPD(ctx context.Context, st *store.Store) (httpdFile, bool) {
	cur := httpdFile{Proto: httpdProto{HTTP: true, HTTPS: true}}
	data, err := st.Read(ctx, store.GroupRoot, "", store.FileHTTPD)
	if errors.Is(err, fs.ErrNotExist) {
		return cur, true
	}
	if err != nil {
		return cur, false
	}
	var raw struct {
		Proto struct {
			HTTP  *bool `json:"http"`
			HTTPS *bool `json:"https"`
		} `json:"proto"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return cur, false // rewritten
	}
	if raw.Proto.HTTP != nil {
		cur.Proto.HTTP = *raw.Proto.HTTP
	}
	if raw.Proto.HTTPS != nil {
		cur.Proto.HTTPS = *raw.Proto.HTTPS
	}
	return cur, true
}
