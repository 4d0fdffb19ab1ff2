package renew

import (
	"math/big"
	"testing"

	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/md"
)

// TestCertInfoSerial: order.certs[].serial and install.certs[].serial keeps the leading zero, as
// mod_md, md-status and openssl print it.
func TestCertInfoSerial(t *testing.T) {
	c := certtest.New(t, certtest.Spec{Serial: big.NewInt(0x61ABF0A858217A5)}).Cert
	if got := CertInfo(md.DefaultKeySpecs[0], c).Serial; got != "061ABF0A858217A5" {
		t.Errorf("serial %q; want 061ABF0A858217A5", got)
	}
}
