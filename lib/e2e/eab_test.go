package e2e

import (
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/store"
)

// TestEABRenewals: with a CA that requires EAB, the first cycle and the
// renewals after it work, and the store keeps the real HMAC while every
// record shows "***" (issue 11 item 1: md-install used to write the masked
// value into domains/<md>/md.json, and every later renewal failed with
// apache:eab-hmac-invalid).
func TestEABRenewals(t *testing.T) {
	hmac := base64.RawURLEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	ca := devca.StartT(t, devca.Options{EABKeys: map[string]string{"kid-1": hmac}})
	dir := t.TempDir()
	storeDir := filepath.Join(dir, "store")
	conf := filepath.Join(dir, "md.toml")
	toml := fmt.Sprintf(`[global]
certificate-authority = [%q]
ca-certificate-file = %q
contact-email = "admin@eab.test"
certificate-agreement = "accepted"
external-account-binding = { kid = "kid-1", hmac = %q }
deploy-dir = %q
port-map = "http:- https:%d"

[[domain]]
domains = ["eab.test"]
private-keys = ["secp256r1"]
tls-listen = "127.0.0.1:%d"
`, ca.DirectoryURL, ca.RootsFile, hmac, filepath.Join(dir, "deploy"), ca.TLSPort, ca.TLSPort)
	if err := os.WriteFile(conf, []byte(toml), 0o644); err != nil {
		t.Fatal(err)
	}
	for cycle, orderArgs := range []string{"", "--force", "--force"} {
		args := []string{"--install-args", "--no-verify"}
		if orderArgs != "" {
			args = append(args, "--order-args", orderArgs)
		}
		code, stdout, stderr := mdRenew(t, storeDir, nil, append(args, conf)...)
		if code != 0 || !strings.Contains(stderr, "eab.test: order=ordered install=activated ok") {
			t.Fatalf("cycle %d: exit %d\n%s", cycle+1, code, stderr)
		}
		if strings.Contains(stdout+stderr, hmac) {
			t.Errorf("cycle %d: the HMAC was printed", cycle+1)
		}
		raw, err := os.ReadFile(filepath.Join(storeDir, "domains", "eab.test", "md.json"))
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(raw), `"hmac": "`+hmac+`"`) {
			t.Errorf("cycle %d: domains/eab.test/md.json lost the HMAC:\n%s", cycle+1, raw)
		}
	}
	// One account served all three orders.
	st, err := store.OpenReadOnly(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	if ids, _ := st.List(t.Context(), store.GroupAccounts); len(ids) != 1 {
		t.Errorf("accounts %v; want one", ids)
	}
}
