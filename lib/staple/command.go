package staple

import (
	"context"
	"fmt"
	"time"

	"github.com/mdtools/mdtools/lib/httpproxy"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// Options are md-staple's command-line choices.
type Options struct {
	All         bool     // every MD installed in the store instead of records
	CertFiles   []string // --cert: chains of certificates outside any MD
	CertOCSPOut bool     // write <cert>.ocsp next to each --cert file
	// Settings given on the command line; they override the records'
	// (for --all and --cert they are the only source).
	HTTPProxy, RenewWindow, KeepResponse, RetryDelay string
	ProxyCAFile                                      string // MDHttpProxyCACertificateFile
}

// StoreRecords makes records for every MD installed in the store
// (domains/*/md.json), for --all.
func StoreRecords(ctx context.Context, st *store.Store) ([]*md.Record, error) {
	names, err := st.List(ctx, store.GroupDomains)
	if err != nil {
		return nil, fmt.Errorf("listing installed MDs: %w", err)
	}
	recs := make([]*md.Record, len(names))
	errs := make([]error, len(names))
	forEach(len(names), scanParallel, func(i int) {
		m, err := st.LoadMD(ctx, store.GroupDomains, names[i])
		if err != nil {
			errs[i] = err
			return
		}
		if m.Name == "" {
			m.Name = names[i]
		}
		recs[i] = &md.Record{MD: *m}
	})
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return recs, nil
}

// Apply puts the command-line settings into every record.
func (o *Options) Apply(recs []*md.Record) *md.Settings {
	over := func(s *md.Settings) *md.Settings {
		c := md.Settings{}
		if s != nil {
			c = *s
		}
		if o.HTTPProxy != "" {
			c.HTTPProxy = o.HTTPProxy
		}
		if o.ProxyCAFile != "" {
			c.ProxyCACerts = o.ProxyCAFile
		}
		if o.RenewWindow != "" {
			c.StaplingRenewWindow = o.RenewWindow
		}
		if o.KeepResponse != "" {
			c.StaplingKeepResponse = o.KeepResponse
		}
		if o.RetryDelay != "" {
			c.RetryDelay = o.RetryDelay
		}
		return &c
	}
	var first *md.Settings
	for _, r := range recs {
		if r.Settings != nil && first == nil {
			first = r.Settings
		}
		if o.overrides() {
			r.Settings = over(r.Settings)
		}
	}
	return over(first)
}

// overrides tells whether settings were given on the command line.
func (o *Options) overrides() bool {
	return o.HTTPProxy != "" || o.ProxyCAFile != "" || o.RenewWindow != "" || o.KeepResponse != "" || o.RetryDelay != ""
}

// ApplyTo puts the command-line settings into one record, as Apply does.
func (o *Options) ApplyTo(rec *md.Record) {
	if o.overrides() {
		o.Apply([]*md.Record{rec})
	}
}

// Validate checks the option values before anything is done.
func (o *Options) Validate() error {
	if o.RenewWindow != "" {
		if _, err := md.ParseTimeslice(o.RenewWindow, md.Day); err != nil {
			return fmt.Errorf("--renew-window: %w", err)
		}
	}
	for flag, v := range map[string]string{"--keep-response": o.KeepResponse, "--retry-delay": o.RetryDelay} {
		if v == "" {
			continue
		}
		unit := md.Day
		if flag == "--retry-delay" {
			unit = time.Second
		}
		if _, err := md.ParseDuration(v, unit); err != nil {
			return fmt.Errorf("%s: %w", flag, err)
		}
	}
	if o.HTTPProxy != "" {
		if _, err := httpproxy.ParseURL(o.HTTPProxy); err != nil {
			return fmt.Errorf("--http-proxy: %w", err)
		}
	}
	if o.ProxyCAFile != "" {
		if _, err := httpproxy.Roots(o.ProxyCAFile); err != nil {
			return fmt.Errorf("--http-proxy-ca-file: %w", err)
		}
	}
	return nil
}

// RunRecords is md-staple's work: the records' MDs (and the --cert files
// as the set "other"), brought up to date. It returns the records to
// print, the "other" record last.
func (r *Runner) RunRecords(ctx context.Context, recs []*md.Record, o *Options) ([]*md.Record, error) {
	other := o.Apply(recs)
	sets := r.SetsFromRecords(ctx, recs)
	out := recs
	if len(o.CertFiles) > 0 {
		s := r.SetFromFiles(o.CertFiles, other, o.CertOCSPOut)
		sets = append(sets, s)
		out = append(out, s.Record)
	}
	if err := r.Run(ctx, sets); err != nil {
		return nil, err
	}
	return out, nil
}
