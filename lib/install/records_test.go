package install

import (
	"math/big"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/renew"
)

func TestParseLeafLite(t *testing.T) {
	t.Parallel()
	key := certtest.NewKey(t)
	for _, nb := range []time.Time{time.Date(2026, 11, 28, 14, 43, 33, 0, time.UTC), time.Date(2049, 12, 31, 23, 0, 0, 0, time.UTC)} {
		full := certtest.New(t, certtest.Spec{Names: []string{"a.test"}, Serial: new(big.Int).SetBytes([]byte{0x80, 1, 2, 3, 4, 5, 6, 7, 8}),
			NotBefore: nb, NotAfter: nb.AddDate(0, 0, 90), Key: key}).Cert // the second runs into GeneralizedTime (2050+)
		der := full.Raw
		lite, err := parseLeafLite(der)
		if err != nil {
			t.Fatal(err)
		}
		if lite.SerialNumber.Cmp(full.SerialNumber) != 0 || !lite.NotBefore.Equal(full.NotBefore) || !lite.NotAfter.Equal(full.NotAfter) {
			t.Errorf("lite %v %v %v; full %v %v %v", lite.SerialNumber, lite.NotBefore, lite.NotAfter, full.SerialNumber, full.NotBefore, full.NotAfter)
		}
		if renew.CertInfo(ecSpec, lite.cert()) != renew.CertInfo(ecSpec, full) {
			t.Errorf("cert info differs")
		}
		if _, err := parseLeafLite(der[:len(der)-5]); err == nil {
			t.Errorf("truncated DER accepted")
		}
	}
}
