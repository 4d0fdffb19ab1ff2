package importer

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/registry"
	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/tomlconf"
)

// InputError is a problem with what the import was given (no such
// client, not the client's directory, an output file that exists):
// nothing was written.
type InputError struct{ Err error }

func (e *InputError) Error() string { return e.Err.Error() }
func (e *InputError) Unwrap() error { return e.Err }

// Result is what an import printed and did.
type Result struct {
	Records []*md.Record // as md-parse prints them for the md.toml
	Report  Report
	TOML    []byte // the md.toml for the imported MDs
	Apache  []byte // the same as Apache MDomain sections
	// Warnings are md-parse's warnings about the md.toml (an MD without a
	// way to answer challenges, ...).
	Warnings []string
	// Failed is set when a certificate or account could not be imported
	// (the report says which and why); the others were.
	Failed bool
}

// run is one import in progress.
type run struct {
	o     Options
	st    *store.Store
	scan  *scan
	out   map[*cert]*outcome
	plans []*mdPlan
	same  map[*mdPlan]bool // already in the store, byte for byte
	res   *Result
}

// Import reads a client's directory and takes its accounts and live
// certificates over into st (nil for a dry run on a store that does not
// exist yet). It sends nothing to any CA.
func Import(ctx context.Context, st *store.Store, o Options) (*Result, error) {
	for _, f := range []string{o.TOMLPath, o.ApachePath} {
		if _, err := os.Lstat(f); f != "" && err == nil {
			return nil, &InputError{fmt.Errorf("%s exists; an import does not replace it (name a new file and merge it by hand)", f)}
		}
	}
	s, err := scanClient(o)
	if err != nil {
		return nil, &InputError{err}
	}
	r := &run{o: o, st: st, scan: s, out: map[*cert]*outcome{}, same: map[*mdPlan]bool{}, res: &Result{}}
	if err := r.plan(ctx); err != nil {
		return nil, err
	}
	if o.DryRun {
		if err := r.accounts(ctx, true); err != nil {
			return nil, err
		}
	} else {
		if err := r.apply(ctx); err != nil {
			return nil, err
		}
		if err := r.writeConfigs(); err != nil {
			return nil, err
		}
	}
	r.report()
	return r.res, nil
}

func scanClient(o Options) (*scan, error) {
	if fi, err := os.Stat(o.Dir); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("%s: not a directory", o.Dir)
	}
	switch o.Client {
	case Certbot:
		return scanCertbot(o.Dir)
	case Lego:
		return scanLego(o.Dir, o.Server)
	case AcmeSh:
		return scanAcmeSh(o.Dir)
	}
	return nil, fmt.Errorf("unknown client %q: want certbot, lego or acme.sh", o.Client)
}

// plan groups the certificates into MDs, drops those the store has other
// certificates for, and reads the md.toml for the rest back into records.
func (r *run) plan(ctx context.Context) error {
	plans := group(r.scan.certs, r.out)
	for _, p := range plans {
		same, err := existing(ctx, r.st, p)
		if err != nil {
			r.skip(p, err.Error())
			continue
		}
		r.same[p] = same
		r.plans = append(r.plans, p)
	}
	r.res.TOML = renderTOML(r.o.Client, r.o.Dir, r.o.StoreDir, r.plans)
	r.res.Apache = renderApache(r.o.Client, r.o.Dir, r.o.StoreDir, r.plans)
	name, dir := "md.toml", r.o.Dir
	if r.o.TOMLPath != "" {
		abs, err := filepath.Abs(r.o.TOMLPath)
		if err != nil {
			return err
		}
		name, dir = abs, filepath.Dir(abs)
	}
	pc, err := tomlconf.Parse(name, dir, r.res.TOML)
	if err != nil {
		return fmt.Errorf("reading back the md.toml written for the import: %w", err)
	}
	for _, w := range pc.Warnings {
		r.res.Warnings = append(r.res.Warnings, w.Error())
	}
	r.res.Records = pc.Records
	for _, rec := range pc.Records {
		rec.Store = r.o.StoreDir
		if r.o.TOMLPath == "" {
			rec.Source = nil // no file defines it yet
		}
	}
	return nil
}

func (r *run) skip(p *mdPlan, detail string) {
	for _, c := range p.certs {
		r.out[c] = &outcome{md: p.name, status: StatusSkipped, detail: detail}
	}
	r.res.Failed = true
}

func (r *run) record(name string) *md.Record {
	for _, rec := range r.res.Records {
		if rec.Name == name {
			return rec
		}
	}
	return nil
}

// apply writes the accounts (under the store-wide lock) and each MD's
// live set, then syncs the records into the store as md-parse does.
func (r *run) apply(ctx context.Context) error {
	unlock, err := r.st.Lock(ctx, "", r.o.Wait)
	if err != nil {
		return fmt.Errorf("importing into %s: %w", r.st, err)
	}
	err = r.accounts(ctx, false)
	unlock()
	if err != nil {
		return err
	}
	var synced []*md.Record
	for _, p := range r.plans {
		rec := r.record(p.name)
		if rec == nil {
			r.skip(p, "not in the md.toml read back (internal error)")
			continue
		}
		if err := r.writeMD(ctx, p, rec); err != nil {
			r.skip(p, err.Error())
			continue
		}
		synced = append(synced, rec)
	}
	if _, err := registry.Sync(ctx, r.st, synced, registry.Options{Wait: r.o.Wait}); err != nil {
		return fmt.Errorf("syncing the imported MDs into %s: %w", r.st, err)
	}
	r.res.Records = synced
	return nil
}

// writeMD makes an MD's set live under its lock and the store-wide lock,
// taken in md-install's order, after looking again at what the store has:
// another run may have put a certificate there since the plan.
func (r *run) writeMD(ctx context.Context, p *mdPlan, rec *md.Record) error {
	unlockMD, err := r.st.Lock(ctx, p.name, r.o.Wait)
	if err != nil {
		return fmt.Errorf("locking MD %s: %w", p.name, err)
	}
	defer unlockMD()
	unlock, err := r.st.Lock(ctx, "", r.o.Wait)
	if err != nil {
		return fmt.Errorf("locking %s: %w", r.st, err)
	}
	defer unlock()
	same, err := existing(ctx, r.st, p)
	if err != nil {
		return err
	}
	if r.same[p] = same; same {
		return nil
	}
	return writeSet(ctx, r.st, p, &rec.MD)
}

// accounts stores the usable accounts (or, dry, gives them the ids an
// import would) and names them in the records of their MDs.
func (r *run) accounts(ctx context.Context, dry bool) error {
	ix, err := loadAccounts(ctx, r.st)
	if err != nil {
		return err
	}
	for _, a := range r.scan.accounts {
		if a.err == nil && !usableStatus(a.status) {
			a.err = fmt.Errorf("the account's status is %q", a.status)
		}
		if a.err != nil {
			continue
		}
		if _, err := ix.saveAccount(ctx, r.st, a, dry); err != nil {
			a.err = err
		}
	}
	for _, p := range r.plans {
		if rec := r.record(p.name); rec != nil && p.acct != nil && p.acct.id != "" {
			rec.CA.Account = p.acct.id
		}
	}
	return nil
}

func usableStatus(s string) bool { return s == "" || s == "valid" }

// writeConfigs writes --toml and --apache, never over an existing file.
func (r *run) writeConfigs() error {
	for _, f := range []struct {
		path string
		data []byte
	}{{r.o.TOMLPath, r.res.TOML}, {r.o.ApachePath, r.res.Apache}} {
		if f.path == "" {
			continue
		}
		fh, err := os.OpenFile(f.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return err
		}
		_, err = fh.Write(f.data)
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(f.path)
			return err
		}
	}
	return nil
}

// report fills the result's report from the scan and the outcomes.
func (r *run) report() {
	rep := &r.res.Report
	rep.Client, rep.Dir, rep.Store, rep.TOML, rep.Apache = r.o.Client, r.o.Dir, r.o.StoreDir, r.o.TOMLPath, r.o.ApachePath
	rep.Accounts, rep.Certificates = []AccountReport{}, []CertReport{}
	for _, a := range r.scan.accounts {
		ar := AccountReport{Source: a.source, URL: a.url, CAURL: a.caURL, Contact: a.contact, ID: a.id, NotCarried: a.notes}
		switch {
		case a.err != nil:
			ar.Status, ar.Detail, ar.ID = StatusSkipped, a.err.Error(), ""
			r.res.Failed = true
		case r.o.DryRun:
			ar.Status = StatusDryRun
		case a.id != "" && a.written:
			ar.Status = StatusImported
		default:
			ar.Status = StatusUnchanged
		}
		rep.Accounts = append(rep.Accounts, ar)
	}
	for _, p := range r.plans {
		for _, c := range p.certs {
			if r.out[c] != nil {
				continue
			}
			o := &outcome{md: p.name, status: StatusImported}
			switch {
			case r.o.DryRun:
				o.status = StatusDryRun
			case r.same[p]:
				o.status, o.detail = StatusUnchanged, "domains/"+p.name+" has this certificate and key already"
			}
			if c.leaf.NotAfter.Before(time.Now()) {
				o.detail = "expired on " + c.leaf.NotAfter.UTC().Format("2006-01-02") + ": the next md-order renews it"
			}
			r.out[c] = o
		}
	}
	for _, c := range r.scan.certs {
		o := r.out[c]
		cr := CertReport{Source: c.source, Status: o.status, Detail: o.detail, MD: o.md, NotCarried: c.notes}
		if c.err == nil && c.leaf != nil {
			cr.Spec, cr.NotAfter = c.spec.String(), md.NewTime(c.leaf.NotAfter)
			cr.Domains, _ = certDomains(c)
		}
		if o.status != StatusSkipped && c.acct != nil {
			cr.Account = c.acct.id
		}
		if o.status == StatusSkipped && c.err != nil {
			r.res.Failed = true
		}
		rep.Certificates = append(rep.Certificates, cr)
	}
}
