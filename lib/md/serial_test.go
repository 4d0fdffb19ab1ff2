package md

import (
	"bytes"
	"math/big"
	"os/exec"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/certtest"
)

func TestSerialHex(t *testing.T) {
	tests := []struct {
		in   *big.Int
		want string
	}{
		{nil, "0"},
		{big.NewInt(0), "0"},
		{big.NewInt(1), "01"},
		{big.NewInt(0xff), "FF"},
		{big.NewInt(0x100), "0100"},
		{big.NewInt(0x61ABF0A858217A5), "061ABF0A858217A5"},
		{big.NewInt(-0x61ABF0A858217A5), "-061ABF0A858217A5"},
	}
	for _, tc := range tests {
		if got := SerialHex(tc.in); got != tc.want {
			t.Errorf("SerialHex(%v) = %q; want %q", tc.in, got, tc.want)
		}
	}
}

// TestSerialHexAsOpenSSL: openssl x509 -serial (BN_bn2hex, as mod_md) prints
// the same, leading zero included.
func TestSerialHexAsOpenSSL(t *testing.T) {
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("openssl not installed (scripts/test-deps)")
	}
	for _, n := range []int64{1, 0x61ABF0A858217A5, 0x7FABF0A858217A5} {
		c := certtest.New(t, certtest.Spec{Names: []string{"serial.test"}, Serial: big.NewInt(n)})
		cmd := exec.Command("openssl", "x509", "-noout", "-serial")
		cmd.Stdin = bytes.NewReader(c.PEM())
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("openssl: %v", err)
		}
		if got, want := SerialHex(big.NewInt(n)), strings.TrimPrefix(strings.TrimSpace(string(out)), "serial="); got != want {
			t.Errorf("SerialHex(%#x) = %q; openssl says %q", n, got, want)
		}
	}
}
