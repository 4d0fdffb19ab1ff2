package renew

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/md"
)

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func cert(t *testing.T, from, until time.Time, staple bool, names ...string) *x509.Certificate {
	t.Helper()
	s := certtest.Spec{Names: names, NotBefore: from, NotAfter: until}
	if staple {
		s.Extensions = []pkix.Extension{{Id: OIDTLSFeature, Value: MustStapleValue}}
	}
	return certtest.New(t, s).Cert
}

var rsa = md.KeySpec{Type: md.KeyRSA, Bits: 2048}
var p256 = md.KeySpec{Type: md.KeyEC, Curve: "secp256r1"}

func TestState(t *testing.T) {
	d90 := 90 * md.Day
	ok := cert(t, t0.Add(-d90/2), t0.Add(d90/2), false, "a.org", "www.a.org")
	wild := cert(t, t0, t0.Add(d90), false, "a.org", "*.a.org")
	other := cert(t, t0, t0.Add(d90), false, "a.org")
	staple := cert(t, t0, t0.Add(d90), true, "a.org", "www.a.org")
	expired := cert(t, t0.Add(-2*d90), t0.Add(-d90), false, "a.org", "www.a.org")
	tests := []struct {
		name       string
		domains    []string
		mustStaple bool
		certs      []Cert
		want       int
		descr      string
	}{
		{"complete", []string{"a.org", "www.a.org"}, false, []Cert{{Spec: rsa, Leaf: ok}}, md.StateComplete, ""},
		{"missing", []string{"a.org"}, false, []Cert{{Spec: rsa, Leaf: nil}}, md.StateIncomplete, "certificate(rsa) is missing"},
		{"second spec missing", []string{"a.org", "www.a.org"}, false, []Cert{{Spec: rsa, Leaf: ok}, {Spec: p256, Leaf: nil}}, md.StateIncomplete, "certificate(secp256r1) is missing"},
		{"not covering", []string{"a.org", "www.a.org"}, false, []Cert{{Spec: rsa, Leaf: other}}, md.StateIncomplete, "certificate(rsa) does not cover all domains."},
		{"wildcard covers", []string{"a.org", "*.a.org", "www.a.org"}, false, []Cert{{Spec: rsa, Leaf: wild}}, md.StateComplete, ""},
		{"staple requested", []string{"a.org", "www.a.org"}, true, []Cert{{Spec: rsa, Leaf: ok}}, md.StateIncomplete, "'must-staple' is requested, but certificate(rsa) has it not enabled."},
		{"staple present", []string{"a.org", "www.a.org"}, true, []Cert{{Spec: rsa, Leaf: staple}}, md.StateComplete, ""},
		{"staple no longer wanted", []string{"a.org", "www.a.org"}, false, []Cert{{Spec: rsa, Leaf: staple}}, md.StateIncomplete, "'must-staple' is not requested, but certificate(rsa) has it enabled."},
		{"key mismatch", []string{"a.org", "www.a.org"}, false, []Cert{{Spec: rsa, Leaf: ok, KeyMismatch: true}}, md.StateIncomplete, "certificate(rsa) does not match its private key."},
		{"expired is still complete", []string{"a.org", "www.a.org"}, false, []Cert{{Spec: rsa, Leaf: expired}}, md.StateComplete, ""},
		{"unreadable", []string{"a.org"}, false, []Cert{{Spec: rsa, Unreadable: true}}, md.StateError, "error initializing"},
		{"first problem wins", []string{"a.org", "www.a.org"}, false, []Cert{{Spec: rsa, Leaf: other}, {Spec: p256, Unreadable: true}}, md.StateIncomplete, "certificate(rsa) does not cover all domains."},
		{"case-insensitive", []string{"A.org", "WWW.a.org"}, false, []Cert{{Spec: rsa, Leaf: ok}}, md.StateComplete, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &md.MD{Name: tc.domains[0], Domains: tc.domains, MustStaple: tc.mustStaple}
			got, descr := State(m, tc.certs)
			if got != tc.want || descr != tc.descr {
				t.Errorf("got %d %q; want %d %q", got, descr, tc.want, tc.descr)
			}
		})
	}
}

// TestStateStaticFiles: certificates from MDCertificateFile are judged by
// the same rules, slots named as mod_md names them.
func TestStateStaticFiles(t *testing.T) {
	d90 := 90 * md.Day
	one := cert(t, t0, t0.Add(d90), false, "a.org")
	both := cert(t, t0, t0.Add(d90), false, "a.org", "b.org")
	tests := []struct {
		name  string
		files []string
		keys  string
		certs []*x509.Certificate
		want  int
		descr string
	}{
		{"covers", []string{"/c.pem"}, "", []*x509.Certificate{both}, md.StateComplete, ""},
		{"does not cover", []string{"/c.pem"}, "", []*x509.Certificate{one}, md.StateIncomplete, "certificate(rsa) does not cover all domains."},
		{"second file past the key specs is rsa", []string{"/c.pem", "/d.pem"}, "secp384r1", []*x509.Certificate{both, one}, md.StateIncomplete, "certificate(rsa) does not cover all domains."},
		{"second file named by its spec", []string{"/c.pem", "/d.pem"}, "secp384r1 rsa3072", []*x509.Certificate{both, nil}, md.StateIncomplete, "certificate(rsa) is missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &md.MD{Name: "a.org", Domains: []string{"a.org", "b.org"}, CertFiles: tc.files}
			if tc.keys != "" {
				ks, err := md.ParseKeySpecs(strings.Fields(tc.keys))
				if err != nil {
					t.Fatal(err)
				}
				m.PrivKey = ks
			}
			slots := Slots(m)
			if len(slots) != len(tc.files) {
				t.Fatalf("Slots: %d; want %d", len(slots), len(tc.files))
			}
			certs := make([]Cert, len(slots))
			for i, s := range slots {
				certs[i] = Cert{Spec: s, Leaf: tc.certs[i]}
			}
			got, descr := State(m, certs)
			if got != tc.want || descr != tc.descr {
				t.Errorf("got %d %q; want %d %q", got, descr, tc.want, tc.descr)
			}
		})
	}
}

func TestRenewAtUsesRealLifetime(t *testing.T) {
	tests := []struct {
		name    string
		window  string
		from    time.Time
		until   time.Time
		renewAt time.Time
	}{
		{"33% of 90 days", "33%", t0, t0.Add(90 * md.Day), t0.Add(90*md.Day - 2566080*time.Second)},
		{"33% of 6 days", "33%", t0, t0.Add(6 * md.Day), t0.Add(6*md.Day - 171072*time.Second)},
		{"14 days absolute", "14d", t0, t0.Add(90 * md.Day), t0.Add(76 * md.Day)},
		{"0% is at expiry", "0%", t0, t0.Add(90 * md.Day), t0.Add(90 * md.Day)},
		{"window longer than life", "100d", t0, t0.Add(90 * md.Day), t0.Add(-10 * md.Day)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := cert(t, tc.from, tc.until, false, "a.org")
			got := RenewAt(md.MustTimeslice(tc.window), []Cert{{Spec: rsa, Leaf: c}})
			if !got.Equal(tc.renewAt) {
				t.Errorf("got %v; want %v", got, tc.renewAt)
			}
		})
	}
	// The earliest of several certificates wins.
	short := cert(t, t0, t0.Add(6*md.Day), false, "a.org")
	long := cert(t, t0, t0.Add(90*md.Day), false, "a.org")
	if got := RenewAt(md.MustTimeslice("1d"), []Cert{{Spec: rsa, Leaf: long}, {Spec: p256, Leaf: short}}); !got.Equal(t0.Add(5 * md.Day)) {
		t.Errorf("two certs: got %v", got)
	}
	if got := RenewAt(md.MustTimeslice("1d"), []Cert{{Spec: rsa, Leaf: long}, {Spec: p256, Leaf: nil}}); !got.IsZero() {
		t.Errorf("missing cert: got %v; want zero", got)
	}
}

func TestDecide(t *testing.T) {
	life := 90 * md.Day
	fresh := cert(t, t0.Add(-md.Day), t0.Add(life-md.Day), false, "a.org")
	old := cert(t, t0.Add(-80*md.Day), t0.Add(10*md.Day), false, "a.org")
	ts := func(s string) *md.Timeslice { v := md.MustTimeslice(s); return &v }
	job := func(next time.Time, errs int) *md.Job {
		return &md.Job{Name: "a.org", NextRun: md.NewTime(next), Errors: errs}
	}
	tests := []struct {
		name   string
		mode   int
		files  []string
		window *md.Timeslice
		certs  []Cert
		job    *md.Job
		staged bool
		force  bool
		revoke bool
		ari    *Window
		rnd    byte
		action string
		reason string
		next   time.Time
		viaARI bool
	}{
		{name: "missing cert", mode: md.RenewAuto, certs: []Cert{{Spec: rsa, Leaf: nil}}, action: Renew, reason: "certificate(rsa) is missing"},
		{name: "fresh cert", mode: md.RenewAuto, certs: []Cert{{Spec: rsa, Leaf: fresh}}, action: None, reason: "not due before"},
		{name: "window reached", mode: md.RenewAuto, certs: []Cert{{Spec: rsa, Leaf: old}}, action: Renew, reason: "renew window reached"},
		{name: "absolute window not reached", mode: md.RenewAuto, window: ts("5d"), certs: []Cert{{Spec: rsa, Leaf: old}}, action: None},
		{name: "manual never", mode: md.RenewManual, certs: []Cert{{Spec: rsa, Leaf: nil}}, action: None, reason: "manual"},
		{name: "manual forced", mode: md.RenewManual, certs: []Cert{{Spec: rsa, Leaf: fresh}}, force: true, action: Renew, reason: "forced"},
		{name: "static files auto", mode: md.RenewAuto, files: []string{"/c.pem"}, certs: []Cert{{Spec: rsa, Leaf: nil}}, action: None, reason: "static"},
		{name: "static files always", mode: md.RenewAlways, files: []string{"/c.pem"}, certs: []Cert{{Spec: rsa, Leaf: nil}}, action: Renew},
		{name: "always but fresh", mode: md.RenewAlways, certs: []Cert{{Spec: rsa, Leaf: fresh}}, action: None},
		{name: "already staged", mode: md.RenewAuto, certs: []Cert{{Spec: rsa, Leaf: nil}}, staged: true, action: Staged},
		{name: "staged but forced", mode: md.RenewAuto, certs: []Cert{{Spec: rsa, Leaf: nil}}, staged: true, force: true, action: Renew},
		{name: "backoff", mode: md.RenewAuto, certs: []Cert{{Spec: rsa, Leaf: nil}}, job: job(t0.Add(time.Minute), 2), action: None, reason: "backoff after 2 errors", next: t0.Add(time.Minute)},
		{name: "backoff over", mode: md.RenewAuto, certs: []Cert{{Spec: rsa, Leaf: nil}}, job: job(t0.Add(-time.Second), 2), action: Renew},
		{name: "backoff forced", mode: md.RenewAuto, certs: []Cert{{Spec: rsa, Leaf: nil}}, job: job(t0.Add(time.Hour), 2), force: true, action: Renew},
		{name: "ari past", mode: md.RenewAuto, certs: []Cert{{Spec: rsa, Leaf: fresh}}, ari: &Window{Start: t0.Add(-2 * time.Hour), End: t0.Add(-time.Hour), ExplanationURL: "https://ca/why"}, action: Renew, reason: "via ARI, explanation at https://ca/why", viaARI: true},
		{name: "ari within window picks point", mode: md.RenewAuto, certs: []Cert{{Spec: rsa, Leaf: fresh}}, ari: &Window{Start: t0.Add(-time.Hour), End: t0.Add(time.Hour)}, rnd: 0, action: Renew, viaARI: true},
		{name: "ari within window later point", mode: md.RenewAuto, certs: []Cert{{Spec: rsa, Leaf: fresh}}, ari: &Window{Start: t0.Add(-time.Hour), End: t0.Add(time.Hour)}, rnd: 255, action: None, next: t0.Add(-time.Hour).Add(2 * time.Hour / 256 * 255)},
		{name: "ari far future", mode: md.RenewAuto, certs: []Cert{{Spec: rsa, Leaf: fresh}}, ari: &Window{Start: t0.Add(48 * time.Hour), End: t0.Add(50 * time.Hour)}, action: None},
		{name: "revoked fresh cert", mode: md.RenewAuto, certs: []Cert{{Spec: rsa, Leaf: fresh}}, revoke: true, action: Renew, reason: "revoked"},
		{name: "revoked but manual", mode: md.RenewManual, certs: []Cert{{Spec: rsa, Leaf: fresh}}, revoke: true, action: None, reason: "manual"},
		{name: "revoked in backoff", mode: md.RenewAuto, certs: []Cert{{Spec: rsa, Leaf: fresh}}, revoke: true, job: job(t0.Add(time.Minute), 1), action: None, next: t0.Add(time.Minute)},
		{name: "ari later than window ignored", mode: md.RenewAuto, certs: []Cert{{Spec: rsa, Leaf: old}}, ari: &Window{Start: t0.Add(20 * md.Day), End: t0.Add(21 * md.Day)}, action: Renew, reason: "renew window"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := &md.MD{Name: "a.org", Domains: []string{"a.org"}, RenewMode: tc.mode, CertFiles: tc.files, RenewWindow: tc.window}
			d := Decide(Input{Now: t0, MD: m, Certs: tc.certs, Job: tc.job, Staged: tc.staged, Force: tc.force, Revoked: tc.revoke, ARI: tc.ari, Rand: tc.rnd})
			if d.Action != tc.action || !strings.Contains(d.Reason, tc.reason) || !d.NextRun.Equal(tc.next) || d.ViaARI != tc.viaARI {
				t.Errorf("got %+v; want action %q reason ~%q next %v viaARI %v", d, tc.action, tc.reason, tc.next, tc.viaARI)
			}
		})
	}
}

func TestNextRunRespectsRetryAfter(t *testing.T) {
	if got := NextRun(t0, time.Second, 1, "urn:ietf:params:acme:error:rateLimited", t0.Add(time.Hour), 128); !got.Equal(t0.Add(time.Hour)) {
		t.Errorf("got %v; want Retry-After", got)
	}
	if got := NextRun(t0, time.Minute, 1, "", t0.Add(time.Second), 128); !got.Equal(t0.Add(time.Minute)) {
		t.Errorf("got %v; want backoff", got)
	}
	// A Retry-After of ten years is capped (issue 11 item 4).
	if got := NextRun(t0, time.Second, 1, "urn:ietf:params:acme:error:rateLimited", t0.AddDate(10, 0, 0), 128); !got.Equal(t0.Add(MaxRetryAfter)) {
		t.Errorf("got %v; want now + MaxRetryAfter", got)
	}
}

func TestARIPick(t *testing.T) {
	s, e := t0, t0.Add(256*time.Second)
	for _, tc := range []struct {
		c    byte
		want time.Time
	}{{0, s}, {128, s.Add(128 * time.Second)}, {255, s.Add(255 * time.Second)}} {
		if got := ARIPick(s, e, tc.c); !got.Equal(tc.want) {
			t.Errorf("c=%d: got %v; want %v", tc.c, got, tc.want)
		}
	}
	if got := ARIPick(e, s, 200); !got.Equal(e) {
		t.Errorf("inverted window: got %v", got)
	}
}

func TestReadyAt(t *testing.T) {
	tests := []struct {
		name     string
		nb       time.Time
		complete bool
		oldEnd   time.Time
		delay    time.Duration
		want     time.Time
	}{
		{"new MD no delay", t0.Add(-time.Minute), false, time.Time{}, 0, t0},
		{"future notBefore", t0.Add(time.Hour), false, time.Time{}, 0, t0.Add(time.Hour)},
		{"delay applies to renewal", t0, true, t0.Add(10 * md.Day), md.Day, t0.Add(md.Day)},
		{"delay capped by old expiry", t0, true, t0.Add(time.Hour), md.Day, t0.Add(time.Hour)},
		{"delay not for new MD", t0, false, time.Time{}, md.Day, t0},
		{"old expired", t0, true, t0.Add(-time.Hour), md.Day, t0},
		{"negative test hook", t0, true, t0.Add(md.Day), -time.Second, t0.Add(time.Second)},
		// mod_md applies the test hook only to a complete MD (acme_renew).
		{"negative test hook, new MD", t0.Add(time.Minute), false, time.Time{}, -time.Second, t0.Add(time.Minute)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ReadyAt(t0, tc.nb, tc.complete, tc.oldEnd, tc.delay); !got.Equal(tc.want) {
				t.Errorf("got %v; want %v", got, tc.want)
			}
		})
	}
}

func TestShouldWarn(t *testing.T) {
	near := cert(t, t0.Add(-85*md.Day), t0.Add(5*md.Day), false, "a.org")
	far := cert(t, t0.Add(-70*md.Day), t0.Add(20*md.Day), false, "a.org")
	tests := []struct {
		name     string
		certs    []Cert
		finished bool
		want     bool
	}{
		{"5 days left of 90", []Cert{{Spec: rsa, Leaf: near}}, false, true},
		{"20 days left", []Cert{{Spec: rsa, Leaf: far}}, false, false},
		{"finished renewal waits", []Cert{{Spec: rsa, Leaf: near}}, true, false},
		{"missing cert", []Cert{{Spec: rsa, Leaf: nil}}, false, false},
		{"any cert", []Cert{{Spec: rsa, Leaf: far}, {Spec: p256, Leaf: near}}, false, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ShouldWarn(t0, nil, tc.certs, tc.finished); got != tc.want {
				t.Errorf("got %v; want %v", got, tc.want)
			}
		})
	}
}

func TestFailoverIndex(t *testing.T) {
	tests := []struct{ n, errors, failover, want int }{
		{1, 50, 2, 0}, {2, 0, 2, 0}, {2, 1, 2, 0}, {2, 2, 2, 1}, {2, 3, 2, 0}, {3, 13, 13, 1}, {3, 14, 13, 2}, {3, 15, 13, 0}, {2, 1, 1, 1},
	}
	for _, tc := range tests {
		if got := FailoverIndex(tc.n, tc.errors, tc.failover); got != tc.want {
			t.Errorf("FailoverIndex(%d, %d, %d) = %d; want %d", tc.n, tc.errors, tc.failover, got, tc.want)
		}
	}
}

func TestIsInputProblem(t *testing.T) {
	for p, want := range map[string]bool{
		"urn:ietf:params:acme:error:badCSR":             true,
		"urn:ietf:params:acme:error:badNonce":           false,
		"urn:ietf:params:acme:error:caa":                false,
		"challenge-mismatch":                            false,
		"urn:ietf:params:acme:error:userActionRequired": true,
	} {
		if got := IsInputProblem(p); got != want {
			t.Errorf("%s: got %v", p, got)
		}
	}
}

// TestHasMustStaple: mod_md's md_cert_must_staple (src/md_crypt.c) tests
// that the TLS Feature extension is present, whatever it lists. md-order
// once required status_request in it, so it refused a certificate that
// state_init (and md-status) call must-staple.
func TestHasMustStaple(t *testing.T) {
	key := certtest.NewKey(t)
	for _, tc := range []struct {
		name  string
		value []byte // nil: no extension
		want  bool
	}{
		{"none", nil, false},
		{"status_request", MustStapleValue, true},
		{"status_request_v2 only", []byte{0x30, 0x03, 0x02, 0x01, 0x11}, true},
		{"empty feature list", []byte{0x30, 0x00}, true},
	} {
		s := certtest.Spec{Names: []string{"a.org"}, NotBefore: t0, NotAfter: t0.Add(md.Day), Key: key}
		if tc.value != nil {
			s.Extensions = []pkix.Extension{{Id: OIDTLSFeature, Value: tc.value}}
		}
		c := certtest.New(t, s).Cert
		if got := HasMustStaple(c); got != tc.want {
			t.Errorf("%s: HasMustStaple = %v, want %v", tc.name, got, tc.want)
		}
		m := &md.MD{Name: "a.org", Domains: []string{"a.org"}, MustStaple: true}
		if st, descr := State(m, []Cert{{Spec: rsa, Leaf: c}}); (st == md.StateComplete) != tc.want {
			t.Errorf("%s: State with must-staple = %d %q, want it to agree with HasMustStaple", tc.name, st, descr)
		}
	}
}
