package staple

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	"golang.org/x/crypto/ocsp"
)

// opensslChildEnv makes the test binary run opensslChild instead of the
// tests: the md-staple side of TestOpensslOCSPResponder, inside the
// private network namespace where `openssl ocsp` listens.
const opensslChildEnv = "MDSTAPLE_OPENSSL_CHILD_STORE"

// TestOpensslOCSPResponder runs a real `openssl ocsp` responder over the
// index of an `openssl ca` test CA (one certificate revoked). openssl ocsp
// binds every interface, so it runs in a private network namespace
// (unshare -n, loopback up) together with md-staple (this test binary,
// re-executed). Its responses embed the signer (the issuer itself), which
// md-staple must accept.
func TestOpensslOCSPResponder(t *testing.T) {
	// Any port is free in the private namespace.
	port := 20000 + os.Getpid()%20000
	ocspURL := "http://127.0.0.1:" + strconv.Itoa(port)
	ca := newOpensslCA(t, "http://127.0.0.1:1/unused.crl")
	ca.env = append(ca.env, "OCSP_URL="+ocspURL)
	goodPEM := ca.issue(t, "good.example", "leaf_ocsp")
	revokedPEM := ca.issue(t, "revoked.example", "leaf_ocsp")
	ca.run(t, "ca", "-config", "ca.cnf", "-revoke", "revoked.example.crt", "-crl_reason", "keyCompromise")

	storeDir := t.TempDir()
	st, err := store.Open(t.Context(), storeDir)
	if err != nil {
		t.Fatal(err)
	}
	good := installPEM(t, st, "good.example", goodPEM)
	revoked := installPEM(t, st, "revoked.example", revokedPEM)

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`ip link set lo up || exit 1
cd %q || exit 1
openssl ocsp -index index.txt -CA ca.crt -rsigner ca.crt -rkey ca.key -port %d -ndays 1 2>ocsp.log &
pid=$!
# Wait for it to listen; a probe connection would wedge it (an empty
# connection blocks openssl ocsp's single-threaded loop).
i=0
until grep -q "waiting for OCSP client connections" ocsp.log; do
  i=$((i+1)); [ $i -gt 200 ] && { echo "openssl ocsp did not start"; kill $pid; wait $pid; exit 1; }
  sleep 0.05
done
"$0" -test.run='^$'
rc=$?
kill $pid
wait $pid # gone before the test goes on
exit $rc`, ca.dir, port)
	ns := []string{"-n"}
	if os.Geteuid() != 0 {
		ns = []string{"-r", "-n"} // a user namespace makes it work unprivileged
	}
	cmd := exec.Command("unshare", append(ns, "sh", "-c", script, self)...)
	cmd.Env = append(os.Environ(), opensslChildEnv+"="+storeDir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		log, _ := os.ReadFile(ca.dir + "/ocsp.log")
		t.Fatalf("md-staple against openssl ocsp in a network namespace: %v\n%s\nopenssl ocsp log:\n%s", err, out, log)
	}
	for rec, want := range map[*md.Record]string{good: StatusGood, revoked: StatusRevoked} {
		chain, err := st.LoadChain(t.Context(), store.GroupDomains, rec.Name, "pubcert.pem")
		if err != nil {
			t.Fatal(err)
		}
		s, ok, err := LoadResponse(t.Context(), st, rec.Name, CertID(chain[0].Raw))
		if !ok || err != nil || s.Status != want {
			t.Fatalf("%s: stored %+v, %v, %v; want %s\nchild output:\n%s", rec.Name, s, ok, err, want, out)
		}
		der, _ := s.DER()
		r, err := ocsp.ParseResponse(der, nil)
		if err != nil || r.Certificate == nil || !r.Certificate.Equal(chain[1]) {
			t.Errorf("%s: response from openssl should embed the issuer: %v", rec.Name, err)
		}
		if got, _ := HasRevoked(t.Context(), st, rec.Name); got != (want == StatusRevoked) {
			t.Errorf("HasRevoked(%s) = %v", rec.Name, got)
		}
	}
}

// opensslChild staples every MD of the store (the responder is up).
func opensslChild(ctx context.Context, dir string) int {
	st, err := store.Open(ctx, dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	recs, err := StoreRecords(ctx, st)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, r := range recs {
		r.Stapling = true
	}
	r := &Runner{Store: st, Timeout: 5 * time.Second, Notifier: (&events{}).notifier}
	if err := r.Run(context.Background(), r.SetsFromRecords(ctx, recs)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	code := 0
	for _, rec := range recs {
		if rec.Error != nil {
			fmt.Fprintln(os.Stderr, rec.Name+":", rec.Error)
			code = 1
		}
		for _, e := range rec.Staple.Responses {
			fmt.Fprintln(os.Stderr, rec.Name, e.Status, e.Action, strings.TrimSpace(e.Detail))
		}
	}
	return code
}
