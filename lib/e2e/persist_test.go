package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/devca"
)

// TestDNSPersist01 runs dns-persist-01 against Pebble with challtestsrv as
// the DNS server: the first order fails with the CA's error and the record
// to publish; the record md-challenge persist-record prints, published
// once, validates a normal and a wildcard name, and a later order again
// without any new record; a record naming another account is refused.
func TestDNSPersist01(t *testing.T) {
	ca := devca.StartT(t, devca.Options{})
	dir := t.TempDir()
	conf := filepath.Join(dir, "md.toml")
	writeFile(t, conf, fmt.Sprintf(`[global]
certificate-authority = [%q]
ca-certificate-file = %q
certificate-agreement = "accepted"
contact-email = "admin@persist.test"

[[domain]]
domains = ["persist.test", "*.persist.test"]
ca-challenges = ["dns-persist-01"]

[[domain]]
domains = ["other.test"]
ca-challenges = ["dns-persist-01"]
`, ca.DirectoryURL, ca.RootsFile))
	e := &env{ca: ca, store: filepath.Join(dir, "store"), pebbleLog: filepath.Join(ca.Dir, "pebble.log")}
	parse := e.run(t, nil, "md-parse", conf)
	if parse.code != 0 {
		t.Fatalf("md-parse: %s", parse.stderr)
	}

	// 1. nothing published: the CA's error and the record to publish
	order := e.run(t, parse.stdout, "md-order")
	if order.code != 1 {
		t.Fatalf("md-order exit %d; want 1\n%s", order.code, order.stderr)
	}
	for _, r := range order.records(t) {
		if r.Error == nil || !strings.Contains(r.Error.Detail, "DNS-PERSIST-01") ||
			!strings.Contains(r.Error.Detail, "Publish this record (md-challenge persist-record prints it): _validation-persist."+strings.TrimPrefix(r.Name, "*.")+". 3600 IN TXT \"pebble.letsencrypt.org; accounturi=") {
			t.Errorf("%s: error %+v", r.Name, r.Error)
		}
	}

	// 2. the records mdtools prints, published through challtestsrv
	rec := e.run(t, nil, "md-challenge", "persist-record", "persist.test", "other.test")
	if rec.code != 0 {
		t.Fatalf("persist-record exit %d\n%s", rec.code, rec.stderr)
	}
	type entry struct{ MD, Name, Value, Zone string }
	var entries []entry
	for _, line := range strings.Split(strings.TrimSpace(string(rec.stdout)), "\n") {
		var en entry
		if err := json.Unmarshal([]byte(line), &en); err != nil {
			t.Fatalf("persist-record output %q: %v", line, err)
		}
		entries = append(entries, en)
	}
	if len(entries) != 2 || !strings.HasSuffix(entries[0].Value, "; policy=wildcard") || strings.Contains(entries[1].Value, "policy") {
		t.Fatalf("persist-record: %s", rec.stdout)
	}
	check := e.run(t, nil, "md-challenge", "persist-check", "--dns-server", ca.DNSAddr, "persist.test")
	if check.code != 1 || !strings.Contains(check.stderr, "no TXT record at _validation-persist.persist.test.") {
		t.Errorf("persist-check before publishing: exit %d\n%s", check.code, check.stderr)
	}
	if err := ca.SetTXT(entries[0].Name, entries[0].Value); err != nil {
		t.Fatal(err)
	}
	// other.test's record names another account (persist.test's, with a
	// different path): the CA refuses it
	wrong := strings.Replace(entries[1].Value, "accounturi=", "accounturi=https://elsewhere.test/acct/", 1)
	wrong = wrong[:strings.Index(wrong, "acct/")+5] + "1"
	if err := ca.SetTXT(entries[1].Name, wrong); err != nil {
		t.Fatal(err)
	}
	check = e.run(t, nil, "md-challenge", "persist-check", "--dns-server", ca.DNSAddr, "persist.test", "other.test")
	if check.code != 1 || !strings.Contains(check.stderr, "names another account") || strings.Contains(check.stderr, "persist.test: ") {
		t.Errorf("persist-check: exit %d\n%s%s", check.code, check.stdout, check.stderr)
	}

	// 3. ordered with the record; other.test refused with the CA's error
	order = e.run(t, parse.stdout, "md-order", "--force")
	recs := order.records(t)
	for _, r := range recs {
		switch r.Name {
		case "persist.test":
			if r.Error != nil || r.Order == nil || r.Order.Action != "ordered" {
				t.Errorf("persist.test: order %+v error %+v\n%s", r.Order, r.Error, order.stderr)
			}
		case "other.test":
			if r.Error == nil || !strings.Contains(r.Error.Detail, "accounturi mismatch") {
				t.Errorf("other.test: error %+v", r.Error)
			}
		}
	}

	// 4. a later order needs no new record
	order = e.run(t, parse.stdout, "md-order", "--force")
	for _, r := range order.records(t) {
		if r.Name == "persist.test" && (r.Error != nil || r.Order == nil || r.Order.Action != "ordered") {
			t.Errorf("second order: %+v error %+v", r.Order, r.Error)
		}
	}
}
