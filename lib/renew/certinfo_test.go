package renew

import (
	"crypto/x509"
	"math/big"
	"testing"

	"github.com/mdtools/mdtools/lib/md"
)

// TestCertInfoSerial: order.certs[].serial and install.certs[].serial keeps the leading zero, as
// mod_md, md-status and openssl print it.
func TestCertInfoSerial(t *testing.T) {
	c := &x509.Certificate{Raw: []byte{1}, SerialNumber: big.NewInt(0x61ABF0A858217A5)}
	if got := CertInfo(md.DefaultKeySpecs[0], c).Serial; got != "061ABF0A858217A5" {
		t.Errorf("serial %q; want 061ABF0A858217A5", got)
	}
}
