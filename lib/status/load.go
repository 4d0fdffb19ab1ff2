package status

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/fsread"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
)

// ErrUnknown is returned when no managed domain has the name asked for.
var ErrUnknown = errors.New("status: no such managed domain")

// UnknownError names the MD or domain that is not in the store.
type UnknownError struct{ Name string }

func (e *UnknownError) Error() string {
	return fmt.Sprintf("no managed domain is named %q or contains it", e.Name)
}

// Is makes errors.Is(err, ErrUnknown) true.
func (e *UnknownError) Is(target error) bool { return target == ErrUnknown }

// Report is everything md-status knows about one managed domain, read
// from the store at one moment (Now). Its JSON form is mod_md's md-status
// object; the other views render the same data.
type Report struct {
	Name     string
	MD       *md.MD        // effective values (defaults, computed state); nil if md.json is unreadable
	Certs    []Cert        // installed: one per key spec, or per static certificate file
	Staged   []Cert        // staging/: the renewal's certificates (present ones only)
	Job      *Job          // staging/<md>/job.json: the renewal in progress or done
	History  *Job          // domains/<md>/job.json: the renewal that produced the installed set
	OCSPJob  *Job          // ocsp/<md>/job.json when the MD staples
	ARI      *renew.Window // earliest ARI window md-order recorded (ari-<md>.json), with History
	RenewAt  time.Time
	WarnAt   time.Time
	Renew    bool
	Watched  bool
	Problems []string        // unreadable store files, each "path: what is wrong"
	Revoked  *md.Revocations // certificates md-order revoke revoked (revoked-<md>.json), nil if none
	Nodes    Nodes           // which node ordered and installed (with Reader.Nodes)
	// Now is the moment of reading rounded down to the second, as mod_md's
	// JSON times are; At is the exact moment, which mod_md subtracts from
	// for server-status's seconds-from-now (apr_time_now()).
	Now, At time.Time
}

// Cert is one certificate slot of an MD.
type Cert struct {
	Key  string // JSON key: key spec name ("rsa", "secp384r1") or static index ("0")
	Spec md.KeySpec
	File string    // where it is (store path or static file)
	Info *CertInfo // nil when missing or unreadable
	Bad  bool      // the file exists but cannot be read
	// KeyMismatch: the certificate does not fit privkey*.pem beside it.
	KeyMismatch bool
	OCSP        *OCSP          // set when the MD staples and the certificate names a responder
	Revoked     *md.Revocation // md-order revoke revoked it (revoked-<md>.json)
}

// OCSP is the stored OCSP state of one certificate.
type OCSP struct {
	ID        string // sha1 hex of the certificate: ocsp-<ID>.json
	Responder string
	Status    string // good, revoked, unknown
	Valid     md.Period
}

// Job is a job.json: parsed, and raw with mod_md's key order for output.
type Job struct {
	md.Job
	Raw *Object // nil for domains/<md>/job.json, which no JSON output shows
}

// Reader reads reports from a store; it never writes.
type Reader struct {
	Store *store.Store
	Now   func() time.Time
	// History also loads domains/<md>/job.json (Report.History), which
	// mod_md's JSON does not show; the table, plan, metrics and HTML use it.
	History bool
	// Logs decodes the logs of the staging and OCSP jobs into Job.Log (the
	// raw JSON always has them); HistoryLogs that of the domains job too,
	// else only its head is read.
	Logs, HistoryLogs bool
	// Nodes loads which node of a fleet ordered and installed each MD
	// (Report.Nodes) from the job logs.
	Nodes bool
	// MemoDir, when set, is the store directory whose memos
	// (memo-status-<view>.bin, see memo.go) the JSON list, the table and
	// the metrics read and, when the directory is writable, update;
	// MemoContext names the build that wrote them (cli.MemoContext), and
	// MemoReport, if set, gets a line on how many MDs a memo answered.
	MemoDir, MemoContext string
	MemoReport           func(string)

	// lean skips what the table and the metrics do not show: the raw
	// jobs (Job.Raw; a job that is no JSON object is still a problem)
	// and the ARI window (Report.ARI).
	lean bool
	// slow turns off every shortcut of the cold path (lean, reading each
	// job.json once, the node scanner): the reference the tests compare
	// the fast path with.
	slow bool

	// present, when set, lists the sets of staging/ and ocsp/ and the
	// names in the store directory (GroupRoot): Load then skips reading
	// what cannot exist (Each fills it for whole stores). Asking for
	// 100,000 absent files costs more than listing the directory, and
	// fills the kernel's cache with negative entries that slow every
	// later lookup.
	present map[store.Group]map[string]bool
}

// hasRoot reports whether the file may exist in the store directory.
func (r *Reader) hasRoot(file string) bool {
	if r.present == nil {
		return true
	}
	set, ok := r.present[store.GroupRoot]
	return !ok || set[file]
}

// has reports whether the set may exist in g.
func (r *Reader) has(g store.Group, name string) bool {
	if r.present == nil {
		return true
	}
	set, ok := r.present[g]
	return !ok || set[name]
}

// withPresence returns a reader that knows which sets exist in staging/
// and ocsp/, listing each group once.
func (r *Reader) withPresence(ctx context.Context) *Reader {
	rp := *r
	rp.present = map[store.Group]map[string]bool{}
	for _, g := range []store.Group{store.GroupStaging, store.GroupOCSP} {
		names, err := r.Store.List(ctx, g)
		if err != nil {
			continue // unknown: read as usual
		}
		set := make(map[string]bool, len(names))
		for _, n := range names {
			set[n] = true
		}
		rp.present[g] = set
	}
	if set, ok := rootNames(r.Store); ok {
		rp.present[store.GroupRoot] = set
	}
	return &rp
}

// rootNames lists every name in the directory of a store on the file
// system (files, links and directories alike: a link Load would refuse
// must still be read to be reported); ok is false for other stores and
// when the directory cannot be read.
func rootNames(st *store.Store) (map[string]bool, bool) {
	dir := st.String()
	if !filepath.IsAbs(dir) {
		return nil, false
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	if err != nil {
		return nil, false
	}
	set := make(map[string]bool, len(names))
	for _, n := range names {
		set[n] = true
	}
	return set, true
}

func (r *Reader) now() time.Time { return r.clock().Truncate(time.Second) }

// clock is the exact time of reading.
func (r *Reader) clock() time.Time {
	if r.Now != nil {
		return r.Now().UTC()
	}
	return time.Now().UTC()
}

// path names a store file in messages.
func (r *Reader) path(g store.Group, name, file string) string {
	return r.Store.String() + "/" + string(g) + "/" + name + "/" + file
}

// Names lists the candidate managed domains in the store (the sets in
// domains/), sorted by name as mod_md sorts them.
func (r *Reader) Names(ctx context.Context) ([]string, error) {
	sets, err := r.Store.List(ctx, store.GroupDomains)
	if err != nil {
		return nil, fmt.Errorf("listing %s/domains: %w", r.Store, err)
	}
	// A set without md.json is no MD; Load says so and the views skip it.
	names := append([]string(nil), sets...)
	sort.Strings(names)
	return names, nil
}

// Find returns the MD for name: an MD of that name, else the MD that
// contains it as a domain (mod_md's md_get_by_name, md_get_by_domain). A
// direct hit reads nothing else; a domain lookup reads every md.json.
func (r *Reader) Find(ctx context.Context, name string) (string, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if md.ValidateDomain(name) != nil {
		return "", &UnknownError{Name: name}
	}
	if r.Store.Exists(ctx, store.GroupDomains, name, store.FileMD) {
		return name, nil
	}
	names, err := r.Names(ctx)
	if err != nil {
		return "", err
	}
	for _, n := range names {
		m, err := r.Store.LoadMD(ctx, store.GroupDomains, n)
		if err != nil {
			continue
		}
		for _, d := range m.Domains {
			if strings.EqualFold(d, name) {
				return n, nil
			}
		}
	}
	return "", &UnknownError{Name: name}
}

// Load reads one MD. It fails only if the MD does not exist; unreadable
// files are reported in Problems, and the MD gets state error.
func (r *Reader) Load(ctx context.Context, name string) (*Report, error) {
	at := r.clock()
	rep := &Report{Name: name, Now: at.Truncate(time.Second), At: at}
	m, err := r.Store.LoadMD(ctx, store.GroupDomains, name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, &UnknownError{Name: name}
	case err != nil:
		rep.problem(r.path(store.GroupDomains, name, store.FileMD), err)
		rep.MD = &md.MD{Name: name, State: md.StateError, RenewMode: md.RenewAuto}
		rep.MD.StateDescr = strings.Join(rep.Problems, "; ")
		return rep, nil
	}
	eff := m.Redacted()
	eff.ApplyDefaults()
	rep.MD = &eff
	specs := eff.PrivKey.Effective()

	// Installed certificates.
	if len(eff.CertFiles) > 0 {
		rep.Certs = loadStaticCerts(rep, eff.CertFiles, specs)
	} else {
		for _, spec := range specs {
			rep.Certs = append(rep.Certs, r.loadCert(ctx, rep, store.GroupDomains, name, spec))
		}
	}
	rep.initState()
	r.loadRevocations(ctx, rep)
	r.loadStapling(ctx, rep, name, eff.Stapling)
	jobs := r.loadRenewal(ctx, rep, name, specs)
	if r.Nodes {
		r.loadNodes(ctx, rep, jobs)
	}
	rep.decide()
	return rep, nil
}

// loadStaticCerts reads the certificate files of an MD that names them
// itself (MDCertificateFile): a missing file leaves the MD incomplete,
// an unreadable one is a problem.
func loadStaticCerts(rep *Report, files []string, specs md.KeySpecs) []Cert {
	var certs []Cert
	for i, f := range files {
		c := Cert{Key: strconv.Itoa(i), File: f}
		if i < len(specs) {
			c.Spec = specs[i]
		}
		data, err := fsread.ReadFile(f, fsread.MaxPEM)
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			rep.problem(f, err)
			c.Bad = true
		} else if err != nil {
			// missing: the MD is incomplete
		} else if chain, err := store.ParseChainPEM(data); err != nil {
			rep.problem(f, err)
			c.Bad = true
		} else {
			c.Info = NewCertInfo(chain)
		}
		certs = append(certs, c)
	}
	return certs
}

// loadStapling reads the OCSP responses of the installed certificates and
// md-staple's job.
func (r *Reader) loadStapling(ctx context.Context, rep *Report, name string, stapling bool) {
	// OCSP for installed certificates: when the MD staples, and when a
	// server stapled them anyway (vhost-level MDStapling/MDStapleOthers),
	// which only the stored response tells.
	for i := range rep.Certs {
		c := &rep.Certs[i]
		if c.Info == nil || c.Info.OCSPURL == "" || !c.Info.HasIssuer {
			continue
		}
		if !r.has(store.GroupOCSP, name) {
			if stapling {
				c.OCSP = &OCSP{ID: c.Info.SHA1, Responder: c.Info.OCSPURL, Status: "unknown"}
			}
			continue
		}
		if stapling || r.Store.Exists(ctx, store.GroupOCSP, name, "ocsp-"+c.Info.SHA1+".json") {
			c.OCSP = r.loadOCSP(ctx, name, c.Info)
		}
	}
	if stapling || r.History {
		// With stapling off, md-staple still checks revocation and keeps
		// its backoff there; the plan (a History view) needs it.
		rep.OCSPJob = r.loadJob(ctx, rep, store.GroupOCSP, name)
	}
}

// jobFiles are the job.json files loadRenewal read, for loadNodes: each
// file is read once.
type jobFiles struct {
	history     []byte // domains/<md>/job.json; nil when unreadable or not read
	historyRead bool   // it was read (History views)
	staging     []byte // staging/<md>/job.json of rep.Job
}

// loadRenewal reads the renewal's past (History views) and the staging
// job with its certificates when that job looks valid
// (md_job_json_seems_valid).
func (r *Reader) loadRenewal(ctx context.Context, rep *Report, name string, specs md.KeySpecs) jobFiles {
	var files jobFiles
	if r.History {
		// Informational only (mod_md never reads it): an unreadable one is
		// ignored, so that every view reports the same state.
		rep.History, files.history = r.readJob(ctx, &Report{}, store.GroupDomains, name)
		files.historyRead = true
		if !r.lean {
			rep.ARI = r.loadARI(ctx, name, rep.Certs)
		}
	}
	if j, data := r.readJob(ctx, rep, store.GroupStaging, name); j != nil && r.stagingJobValid(ctx, j, name, specs) {
		rep.Job, files.staging = j, data
		for _, spec := range specs {
			c := r.loadCert(ctx, rep, store.GroupStaging, name, spec)
			if c.Info != nil {
				rep.Staged = append(rep.Staged, c)
			}
		}
	}
	return files
}

// decide sets when to renew and whether to now, and turns any problem
// met while loading into state error: it runs after everything is read.
func (rep *Report) decide() {
	rep.RenewAt, rep.WarnAt = renewTimes(rep.MD, rep.Certs, rep.Now)
	if rep.Job != nil {
		rep.Renew = true
	} else {
		rep.Renew = !rep.RenewAt.IsZero() && !rep.RenewAt.After(rep.Now)
	}
	if len(rep.Problems) > 0 {
		rep.MD.State = md.StateError
		rep.MD.StateDescr = strings.Join(rep.Problems, "; ")
	}
	rep.Watched = rep.MD.State != md.StateError
}

func (rep *Report) problem(path string, err error) {
	var ce *store.CorruptError
	if errors.As(err, &ce) {
		rep.Problems = append(rep.Problems, ce.Error())
		return
	}
	var fe *fsread.Error // names the file already
	if errors.As(err, &fe) {
		rep.Problems = append(rep.Problems, fe.Error())
		return
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		rep.Problems = append(rep.Problems, path+": "+pe.Err.Error())
		return
	}
	rep.Problems = append(rep.Problems, path+": "+err.Error())
}

func (r *Reader) loadCert(ctx context.Context, rep *Report, g store.Group, name string, spec md.KeySpec) Cert {
	file := spec.FileName("pubcert")
	c := Cert{Key: spec.Name(), Spec: spec, File: r.path(g, name, file)}
	data, err := r.Store.Read(ctx, g, name, file)
	var chain []*x509.Certificate
	if err == nil {
		chain, err = parseChain(data)
	}
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		rep.problem(c.File, err)
		c.Bad = true
	default:
		c.Info = NewCertInfo(chain)
		if g == store.GroupDomains && c.Info.Cert != nil {
			// A key we may not read (md-status as another user) is
			// no finding.
			if fits, err := r.Store.KeyFits(ctx, g, name, spec.FileName("privkey"), c.Info.Cert); err == nil && !fits {
				c.KeyMismatch = true
			}
		}
	}
	return c
}

func (r *Reader) loadJob(ctx context.Context, rep *Report, g store.Group, name string) *Job {
	j, _ := r.readJob(ctx, rep, g, name)
	return j
}

// readJob is loadJob that also returns the file read (nil when it could
// not be read).
func (r *Reader) readJob(ctx context.Context, rep *Report, g store.Group, name string) (*Job, []byte) {
	if !r.has(g, name) {
		return nil, nil
	}
	data, err := r.Store.Read(ctx, g, name, store.FileJob)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	path := r.path(g, name, store.FileJob)
	if err != nil {
		rep.problem(path, err)
		return nil, nil
	}
	quick, decode := quickJob, decodeJob
	if r.slow {
		quick, decode = quickJobRef, decodeJobRef
	}
	var j *Job
	switch {
	case g == store.GroupDomains && !r.HistoryLogs:
		j, err = quick(data)
	case g == store.GroupDomains:
		j, err = decode(data, true, false) // domains/: not shown raw
	default:
		j, err = decode(data, r.Logs || r.HistoryLogs, !r.lean)
		if err == nil && r.lean {
			err = checkObject(data) // what parsing it raw would find
		}
	}
	if err != nil {
		rep.problem(path, err)
		return nil, data
	}
	return j, data
}

// stagingJobValid is mod_md's md_job_json_seems_valid: a staging job that
// claims a finished, notified renewal must have produced its results.
func (r *Reader) stagingJobValid(ctx context.Context, j *Job, name string, specs md.KeySpecs) bool {
	if !j.Finished || !j.NotifiedRenewed {
		return true
	}
	if !r.Store.Exists(ctx, store.GroupStaging, name, store.FileMD) {
		return false
	}
	for _, spec := range specs {
		if !r.Store.Exists(ctx, store.GroupStaging, name, spec.FileName("pubcert")) {
			return false
		}
	}
	return true
}

// ocspFile is mod_md's stored OCSP response.
type ocspFile struct {
	Response string    `json:"response"`
	Status   string    `json:"status"`
	Valid    md.Period `json:"valid"`
}

// ocspState is what md-status uses of an ocspFile.
type ocspState struct {
	response bool // a response is stored
	status   string
	valid    md.Period
}

// decodeOCSP reads an ocsp-<id>.json with encoding/json (the reference
// of scanOCSP); ok is false when it does not decode.
func decodeOCSP(data []byte) (ocspState, bool) {
	var f ocspFile
	if json.Unmarshal(data, &f) != nil {
		return ocspState{}, false
	}
	return ocspState{response: f.Response != "", status: f.Status, valid: f.Valid}, true
}

func (r *Reader) loadOCSP(ctx context.Context, name string, ci *CertInfo) *OCSP {
	o := &OCSP{ID: ci.SHA1, Responder: ci.OCSPURL, Status: "unknown"}
	data, err := r.Store.Read(ctx, store.GroupOCSP, name, "ocsp-"+ci.SHA1+".json")
	if err != nil {
		return o // no response yet: mod_md reports "unknown"
	}
	f, ok := scanOCSP(data)
	if !ok || r.slow {
		f, ok = decodeOCSP(data)
	}
	if !ok || !f.response {
		return o // no usable response: "unknown" too
	}
	switch f.status {
	case "good", "revoked":
		o.Status = f.status
	}
	o.Valid = f.valid
	return o
}

// initState computes state and state-descr as mod_md's state_init does at
// startup, with renew.State (the one implementation of the rules) over the
// installed certificates or static files.
func (rep *Report) initState() {
	slots := renew.Slots(rep.MD)
	certs := make([]renew.Cert, 0, len(rep.Certs))
	for i, c := range rep.Certs {
		rc := renew.Cert{Spec: md.DefaultKeySpecs[0], Unreadable: c.Bad}
		if i < len(slots) {
			rc.Spec = slots[i]
		}
		if c.Info != nil {
			rc.Leaf = c.Info.Cert
		}
		rc.KeyMismatch = c.KeyMismatch
		certs = append(certs, rc)
	}
	rep.MD.State, rep.MD.StateDescr = renew.State(rep.MD, certs)
}

// renewTimes is mod_md's md_reg_renew_at (and the warn window's start):
// now when the MD is incomplete or a certificate is missing, else the
// earliest start of the renew window over all certificates.
func renewTimes(m *md.MD, certs []Cert, now time.Time) (renewAt, warnAt time.Time) {
	if m.State == md.StateIncomplete {
		return now, time.Time{}
	}
	for _, c := range certs {
		if c.Info == nil {
			if !c.Bad {
				return now, time.Time{} // missing
			}
			continue // unreadable: skipped, as by mod_md
		}
		r := m.RenewWindow.Start(c.Info.NotBefore, c.Info.NotAfter)
		if renewAt.IsZero() || r.Before(renewAt) {
			renewAt = r
		}
		w := m.WarnWindow.Start(c.Info.NotBefore, c.Info.NotAfter)
		if warnAt.IsZero() || w.Before(warnAt) {
			warnAt = w
		}
	}
	return renewAt, warnAt
}
