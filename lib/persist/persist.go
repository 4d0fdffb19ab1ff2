// Package persist prepares and checks the dns-persist-01 records of MDs
// (draft-ietf-acme-dns-persist): it finds the MD's ACME account in the
// store and the CA's issuer domain name in its directory, makes the TXT
// records (their format is lib/challenge's PersistRecord) and looks the
// published ones up in DNS. md-challenge persist-record and persist-check
// run it.
package persist

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/mdtools/mdtools/lib/acmeflow"
	"github.com/mdtools/mdtools/lib/challenge"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// Options say where the parts of a record come from.
type Options struct {
	Issuer    string    // issuer domain name; "" = the CA directory's first caaIdentities
	Until     time.Time // persistUntil; zero = none
	CAFiles   []string  // roots trusted for the CA's directory, besides the record's ca-certs
	UserAgent string
	// DNSServer is where Check looks records up (host:port); "" = the
	// system resolver.
	DNSServer string
	Now       func() time.Time
}

// Entry is one record of one MD, as persist-record and persist-check
// print it (JSON Lines).
type Entry struct {
	MD string `json:"md"`
	challenge.PersistRecord
	Value string `json:"value"`
	Zone  string `json:"zone"` // the zone-file line
	// persist-check only:
	Published []string `json:"published,omitempty"`
	Matches   *bool    `json:"match,omitempty"`
	Problem   string   `json:"problem,omitempty"`
}

// caURL is the CA an MD orders from (the first of its list).
func caURL(rec *md.Record) string {
	if rec.CA == nil {
		return ""
	}
	if rec.CA.URL != "" {
		return rec.CA.URL
	}
	if len(rec.CA.URLs) > 0 {
		return rec.CA.URLs[0]
	}
	return ""
}

// AccountURL is the URL of the ACME account the MD orders with: the
// account md.json names (the record's, else the store's copy), else the
// new account staged for the MD, else the only account in the store
// registered at the MD's CA.
func AccountURL(ctx context.Context, st *store.Store, rec *md.Record) (string, error) {
	id := ""
	if rec.CA != nil {
		id = rec.CA.Account
	}
	if id == "" {
		var stored md.MD
		if err := st.LoadJSON(ctx, store.GroupDomains, rec.Name, store.FileMD, &stored); err == nil && stored.CA != nil {
			id = stored.CA.Account
		}
	}
	if id != "" {
		var af acmeflow.AccountFile
		if err := st.LoadJSON(ctx, store.GroupAccounts, id, store.FileAccount, &af); err != nil {
			return "", fmt.Errorf("account %s of %s: %w", id, rec.Name, err)
		}
		if af.URL != "" {
			return af.URL, nil
		}
	}
	ca := caURL(rec)
	// a new account stays in staging/<md>/ until the MD's first
	// certificate (as in mod_md), which a missing record prevents
	var staged acmeflow.AccountFile
	if st.LoadJSON(ctx, store.GroupStaging, rec.Name, store.FileAccount, &staged) == nil && staged.URL != "" && (ca == "" || staged.CAURL == ca) {
		return staged.URL, nil
	}
	ids, err := st.List(ctx, store.GroupAccounts)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	var found []string
	for _, id := range ids {
		var af acmeflow.AccountFile
		if st.LoadJSON(ctx, store.GroupAccounts, id, store.FileAccount, &af) == nil && af.URL != "" && af.CAURL == ca && af.Status != "deactivated" {
			found = append(found, af.URL)
		}
	}
	switch len(found) {
	case 1:
		return found[0], nil
	case 0:
		return "", fmt.Errorf("%s has no ACME account at %s yet: run md-order for it once (the order fails until the record is published, and its error shows the record too)", rec.Name, ca)
	}
	return "", fmt.Errorf("%s has no account in md.json and the store has %d accounts at %s; run md-order once so that md.json names one", rec.Name, len(found), ca)
}

// Issuer is the CA's issuer domain name: o.Issuer, else the first of the
// directory's caaIdentities.
func Issuer(ctx context.Context, rec *md.Record, o Options) (string, error) {
	if o.Issuer != "" {
		return o.Issuer, nil
	}
	url := caURL(rec)
	if url == "" {
		return "", fmt.Errorf("%s names no CA", rec.Name)
	}
	opts := acmeflow.HTTPOptions{CAFiles: append([]string{}, o.CAFiles...)}
	if rec.ProxyURL != "" {
		opts.ProxyURL = rec.ProxyURL
	} else if rec.Settings != nil {
		opts.ProxyURL = rec.Settings.HTTPProxy
	}
	certs := rec.CACerts
	if certs == "" && rec.Settings != nil {
		certs = rec.Settings.CACerts
	}
	if certs != "" && certs != "none" {
		opts.CAFiles = append(opts.CAFiles, certs)
	}
	hc, err := acmeflow.HTTPClient(opts)
	if err != nil {
		return "", err
	}
	dir, err := acmeflow.Discover(ctx, hc, url, o.UserAgent)
	if err != nil {
		return "", err
	}
	if len(dir.CAAIdentities) == 0 {
		return "", fmt.Errorf("the CA at %s names no issuer domain name (meta.caaIdentities); give it with --issuer", url)
	}
	return dir.CAAIdentities[0], nil
}

// Entries are the records of one MD.
func Entries(ctx context.Context, st *store.Store, rec *md.Record, o Options) ([]Entry, error) {
	acct, err := AccountURL(ctx, st, rec)
	if err != nil {
		return nil, err
	}
	issuer, err := Issuer(ctx, rec, o)
	if err != nil {
		return nil, err
	}
	var out []Entry
	for _, r := range challenge.PersistRecords(rec.Domains, issuer, acct, o.Until) {
		if err := r.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", rec.Name, err)
		}
		out = append(out, Entry{MD: rec.Name, PersistRecord: r, Value: r.Value(), Zone: r.ZoneLine(challenge.PersistTTL)})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s has no DNS name (dns-persist-01 does not validate IP addresses)", rec.Name)
	}
	return out, nil
}

// Check looks each entry's record up and fills in Published, Match and
// Problem; it reports whether all match.
func Check(ctx context.Context, entries []Entry, o Options) bool {
	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	all := true
	for i := range entries {
		e := &entries[i]
		vals, err := challenge.LookupTXT(ctx, o.DNSServer, e.Owner)
		e.Published = vals
		if err == nil {
			err = e.Match(vals, now())
		}
		ok := err == nil
		e.Matches = &ok
		if err != nil {
			e.Problem = err.Error()
			all = false
		}
	}
	return all
}
