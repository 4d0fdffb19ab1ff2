package challenge

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

// DNSPersist01 is the persistent DNS challenge (draft-ietf-acme-dns-persist):
// one TXT record at "_validation-persist.<domain>" names the CA (its issuer
// domain name, as in CAA) and the ACME account; it is published once and
// validates every later order of that account, so md-order sets nothing up
// for it, runs no hook and does not wait for DNS propagation.
const DNSPersist01 = "dns-persist-01"

// PersistLabel is the owner-name label of a dns-persist-01 record.
const PersistLabel = "_validation-persist"

// PersistTTL is the TTL zone lines are printed with.
const PersistTTL = 3600

// PersistRecord is the TXT record that authorizes one account at one CA
// for a domain (and, with Wildcard, for "*.<domain>").
type PersistRecord struct {
	Domain       string    `json:"domain"`                 // without "*."
	Owner        string    `json:"name"`                   // "_validation-persist.<domain>." (FQDN)
	Issuer       string    `json:"issuer-domain-name"`     // the CA's, e.g. "letsencrypt.org"
	AccountURI   string    `json:"accounturi"`             // the account's URL at the CA
	Wildcard     bool      `json:"wildcard,omitempty"`     // policy=wildcard
	PersistUntil time.Time `json:"persist-until,omitzero"` // persistUntil, seconds since the epoch
}

// NewPersistRecord is the record for domain ("*." sets Wildcard).
func NewPersistRecord(domain, issuer, accountURI string, until time.Time) PersistRecord {
	base, wild := strings.CutPrefix(strings.ToLower(domain), "*.")
	return PersistRecord{Domain: base, Owner: PersistLabel + "." + base + ".", Issuer: issuer, AccountURI: accountURI,
		Wildcard: wild, PersistUntil: until}
}

// Value is the TXT record's text: "<issuer>; accounturi=<uri>" and, when
// set, "; policy=wildcard" and "; persistUntil=<unix seconds>".
func (r PersistRecord) Value() string {
	v := r.Issuer + "; accounturi=" + r.AccountURI
	if r.Wildcard {
		v += "; policy=wildcard"
	}
	if !r.PersistUntil.IsZero() {
		v += "; persistUntil=" + strconv.FormatInt(r.PersistUntil.Unix(), 10)
	}
	return v
}

// ZoneLine is the record in zone-file form, with the given TTL.
func (r PersistRecord) ZoneLine(ttl int) string {
	return fmt.Sprintf("%s %d IN TXT %s", r.Owner, ttl, strconv.Quote(r.Value()))
}

// Validate checks what goes into the record: a DNS name (no IP address,
// which has no zone), an issuer domain name, an account URL without
// whitespace or ';'.
func (r PersistRecord) Validate() error {
	if md.IsIP(r.Domain) {
		return fmt.Errorf("%s is an IP address: dns-persist-01 validates DNS names only", r.Domain)
	}
	if err := ValidateChallengeDomain(r.Domain); err != nil {
		return err
	}
	if err := md.ValidateDomain(r.Issuer); err != nil {
		return fmt.Errorf("issuer domain name: %w", err)
	}
	if r.AccountURI == "" || strings.ContainsAny(r.AccountURI, "; \t\"\\") || !strings.HasPrefix(r.AccountURI, "https://") && !strings.HasPrefix(r.AccountURI, "http://") {
		return fmt.Errorf("account URL %q is not usable in a TXT record", r.AccountURI)
	}
	return nil
}

// PersistRecords are the records an MD needs: one per DNS name, a name and
// its wildcard sharing one record with policy=wildcard. IP addresses are
// left out (they cannot use dns-persist-01).
func PersistRecords(domains []string, issuer, accountURI string, until time.Time) []PersistRecord {
	var out []PersistRecord
	index := map[string]int{}
	for _, d := range domains {
		if md.IsIP(d) {
			continue
		}
		r := NewPersistRecord(d, issuer, accountURI, until)
		if i, ok := index[r.Domain]; ok {
			out[i].Wildcard = out[i].Wildcard || r.Wildcard
			continue
		}
		index[r.Domain] = len(out)
		out = append(out, r)
	}
	return out
}

// persistValue is a parsed dns-persist-01 TXT value.
type persistValue struct {
	issuer string
	params map[string]string // tags lower-cased
}

// parsePersistValue splits "<issuer>; tag=value; ..." (RFC 8659
// issue-value syntax); tags are case-insensitive.
func parsePersistValue(v string) (persistValue, error) {
	parts := strings.Split(v, ";")
	pv := persistValue{issuer: strings.TrimSpace(parts[0]), params: map[string]string{}}
	if pv.issuer == "" {
		return pv, fmt.Errorf("no issuer domain name")
	}
	for _, p := range parts[1:] {
		tag, val, ok := strings.Cut(strings.TrimSpace(p), "=")
		tag = strings.ToLower(strings.TrimSpace(tag))
		if !ok || tag == "" {
			return pv, fmt.Errorf("malformed parameter %q", strings.TrimSpace(p))
		}
		if _, dup := pv.params[tag]; dup {
			return pv, fmt.Errorf("duplicate parameter %q", tag)
		}
		pv.params[tag] = strings.TrimSpace(val)
	}
	return pv, nil
}

// Match judges published TXT values against the record as the CA would:
// nil when one of them names this issuer and account (with policy=wildcard
// when the record needs it, and a persistUntil not before now); otherwise
// an error saying what is wrong with the values for this issuer, or that
// there are none.
func (r PersistRecord) Match(values []string, now time.Time) error {
	var why []string
	for _, v := range values {
		pv, err := parsePersistValue(v)
		if err != nil {
			if strings.EqualFold(strings.TrimSpace(strings.SplitN(v, ";", 2)[0]), r.Issuer) {
				why = append(why, fmt.Sprintf("%q: %v", v, err))
			}
			continue
		}
		if !strings.EqualFold(pv.issuer, r.Issuer) {
			continue
		}
		switch acct := pv.params["accounturi"]; {
		case acct == "":
			why = append(why, fmt.Sprintf("%q has no accounturi", v))
		case acct != r.AccountURI:
			why = append(why, fmt.Sprintf("%q names another account (%s)", v, acct))
		case r.Wildcard && !strings.EqualFold(pv.params["policy"], "wildcard"):
			why = append(why, fmt.Sprintf("%q lacks policy=wildcard, which *.%s needs", v, r.Domain))
		default:
			if s, ok := pv.params["persistuntil"]; ok {
				n, err := strconv.ParseInt(s, 10, 64)
				if err != nil {
					why = append(why, fmt.Sprintf("%q: malformed persistUntil", v))
					continue
				}
				if now.After(time.Unix(n, 0)) {
					why = append(why, fmt.Sprintf("%q expired at %s (persistUntil)", v, time.Unix(n, 0).UTC().Format(time.RFC3339)))
					continue
				}
			}
			return nil
		}
	}
	if len(why) == 0 {
		if len(values) == 0 {
			return fmt.Errorf("no TXT record at %s", r.Owner)
		}
		return fmt.Errorf("no TXT record at %s names issuer %s (found: %q)", r.Owner, r.Issuer, values)
	}
	return fmt.Errorf("%s", strings.Join(why, "; "))
}

// LookupTXT reads the TXT values of name through the DNS server at addr
// (host:port), or through the system resolver when addr is "".
func LookupTXT(ctx context.Context, addr, name string) ([]string, error) {
	res := net.DefaultResolver
	if addr != "" {
		res = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}
	}
	vals, err := res.LookupTXT(ctx, name)
	var de *net.DNSError
	// an empty answer without SOA (challtestsrv, some forwarders) is
	// "lame referral" to Go: no record either
	if err != nil && asDNSError(err, &de) && (de.IsNotFound || strings.Contains(de.Err, "lame referral")) {
		return nil, nil
	}
	return vals, err
}

func asDNSError(err error, de **net.DNSError) bool {
	e, ok := err.(*net.DNSError)
	if ok {
		*de = e
	}
	return ok
}
