package ocspfile

import (
	"encoding/base64"
	"errors"
	"io/fs"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

var (
	specRSA = md.KeySpec{Type: "RSA", Bits: 2048}
	specEC  = md.KeySpec{Type: "EC", Curve: "secp256r1"}
)

// storeState is one arrangement of domains/<md>/ and ocsp/<md>/.
type storeState struct {
	name    string
	stored  md.KeySpecs           // the specs in domains/<md>/md.json; nil: no md.json
	certs   map[md.KeySpec]bool   // a pubcert file per spec (true: a certificate, false: junk)
	ocsp    map[md.KeySpec]string // status in ocsp-<id>.json ("" with no response: "empty")
	crl     map[md.KeySpec]string // status in crl-status-<id>.json
	corrupt bool                  // the first spec's ocsp-<id>.json is not JSON
	record  md.KeySpecs           // the specs md-order's record names (what it read as live)
}

// TestHasRevokedKnownSameAsRead: md-order hands HasRevoked the live
// certificates it read already (for the record's key specs); on every
// store state the verdict and the error are those of HasRevoked reading
// every file itself, as md-staple's callers and mod_md do.
func TestHasRevokedKnownSameAsRead(t *testing.T) {
	one := md.KeySpecs{specEC}
	both := md.KeySpecs{specRSA, specEC}
	states := []storeState{
		{name: "not installed", record: one},
		{name: "no certificate", stored: one, record: one},
		{name: "no verdict", stored: one, certs: map[md.KeySpec]bool{specEC: true}, record: one},
		{name: "ocsp good", stored: one, certs: map[md.KeySpec]bool{specEC: true}, ocsp: map[md.KeySpec]string{specEC: "good"}, record: one},
		{name: "ocsp revoked", stored: one, certs: map[md.KeySpec]bool{specEC: true}, ocsp: map[md.KeySpec]string{specEC: "revoked"}, record: one},
		{name: "ocsp revoked without response", stored: one, certs: map[md.KeySpec]bool{specEC: true}, ocsp: map[md.KeySpec]string{specEC: "empty"}, record: one},
		{name: "crl revoked", stored: one, certs: map[md.KeySpec]bool{specEC: true}, crl: map[md.KeySpec]string{specEC: "revoked"}, record: one},
		{name: "crl good, ocsp good", stored: one, certs: map[md.KeySpec]bool{specEC: true}, ocsp: map[md.KeySpec]string{specEC: "good"}, crl: map[md.KeySpec]string{specEC: "good"}, record: one},
		{name: "corrupt ocsp file", stored: one, certs: map[md.KeySpec]bool{specEC: true}, corrupt: true, record: one},
		{name: "junk pubcert", stored: one, certs: map[md.KeySpec]bool{specEC: false}, record: one},
		{name: "second spec revoked", stored: both, certs: map[md.KeySpec]bool{specRSA: true, specEC: true}, ocsp: map[md.KeySpec]string{specRSA: "good", specEC: "revoked"}, record: both},
		{name: "revoked spec no longer configured", stored: both, certs: map[md.KeySpec]bool{specRSA: true, specEC: true}, ocsp: map[md.KeySpec]string{specRSA: "revoked"}, record: one},
		{name: "revoked spec not yet in md.json", stored: one, certs: map[md.KeySpec]bool{specRSA: true, specEC: true}, ocsp: map[md.KeySpec]string{specRSA: "revoked"}, record: both},
		{name: "md.json unreadable", stored: md.KeySpecs{}, certs: map[md.KeySpec]bool{specEC: true}, ocsp: map[md.KeySpec]string{specEC: "revoked"}, record: one},
	}
	ctx := t.Context()
	verdicts := map[bool]int{}
	for _, s := range states {
		t.Run(s.name, func(t *testing.T) {
			st, err := store.Open(ctx, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			arrange(t, st, "a.test", s)
			slow, slowErr := HasRevoked(ctx, st, "a.test", nil)
			// what md-order read: the record's specs, parsed as chains
			known := Leaves{}
			for _, ks := range s.record {
				if chain, err := st.LoadChain(ctx, store.GroupDomains, "a.test", ks.FileName("pubcert")); err == nil {
					known[ks.FileName("pubcert")] = chain[0].Raw
				}
			}
			fast, fastErr := HasRevoked(ctx, st, "a.test", known)
			if fast != slow || (fastErr == nil) != (slowErr == nil) || (fastErr != nil && fastErr.Error() != slowErr.Error()) {
				t.Errorf("with known leaves %v, %v; reading them %v, %v", fast, fastErr, slow, slowErr)
			}
			verdicts[slow]++
		})
	}
	if verdicts[true] == 0 || verdicts[false] == 0 {
		t.Errorf("the table must hold revoked and not revoked states: %v", verdicts)
	}
}

func arrange(t *testing.T, st *store.Store, name string, s storeState) {
	t.Helper()
	ctx := t.Context()
	switch {
	case s.stored == nil:
	case len(s.stored) == 0:
		if err := st.Write(ctx, store.GroupDomains, name, store.FileMD, []byte("{not json")); err != nil {
			t.Fatal(err)
		}
	default:
		m := &md.MD{Name: name, Domains: []string{name}, PrivKey: s.stored}
		if err := st.SaveMD(ctx, store.GroupDomains, m); err != nil {
			t.Fatal(err)
		}
	}
	first := true
	for _, ks := range []md.KeySpec{specRSA, specEC} {
		good, ok := s.certs[ks]
		if !ok {
			continue
		}
		data := []byte("-----BEGIN JUNK-----\nAAAA\n-----END JUNK-----\n")
		var id string
		if good {
			c := certtest.New(t, certtest.Spec{Names: []string{name}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)})
			data = c.PEM()
			id = CertID(c.Cert.Raw)
		}
		if err := st.Write(ctx, store.GroupDomains, name, ks.FileName("pubcert"), data); err != nil {
			t.Fatal(err)
		}
		if id == "" {
			continue
		}
		if status, ok := s.ocsp[ks]; ok {
			resp := &Stored{Response: base64.RawURLEncoding.EncodeToString([]byte{0x30, 0}), Status: status}
			if status == "empty" {
				resp = &Stored{Status: StatusRevoked}
			}
			if err := st.SaveJSON(ctx, store.GroupOCSP, name, ResponseFile(id), resp); err != nil {
				t.Fatal(err)
			}
		}
		if s.corrupt && first {
			if err := st.Write(ctx, store.GroupOCSP, name, ResponseFile(id), []byte(`{"status": `)); err != nil {
				t.Fatal(err)
			}
		}
		if status, ok := s.crl[ks]; ok {
			if err := st.SaveJSON(ctx, store.GroupOCSP, name, CRLStatusFile(id), &CRLStatus{Status: status, CRL: "http://crl.test/ca.crl"}); err != nil {
				t.Fatal(err)
			}
		}
		first = false
	}
}

// TestLoadMissing: no file is no verdict, not an error.
func TestLoadMissing(t *testing.T) {
	st, err := store.Open(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if s, ok, err := LoadResponse(t.Context(), st, "a.test", "00"); s != nil || ok || err != nil {
		t.Errorf("LoadResponse = %v, %v, %v", s, ok, err)
	}
	if s, ok, err := LoadCRLStatus(t.Context(), st, "a.test", "00"); s != nil || ok || err != nil {
		t.Errorf("LoadCRLStatus = %v, %v, %v", s, ok, err)
	}
	if _, err := st.Read(t.Context(), store.GroupOCSP, "a.test", ResponseFile("00")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Read = %v", err)
	}
}
