package main

import (
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/devca"
)

// TestMustStapleWithoutOCSPWarnsBeforeOrdering: once a certificate from a
// CA is installed and names no OCSP responder, ordering a must-staple
// certificate from that CA warns before the order (--dry-run orders
// nothing and already says it); a CA with a responder gives no warning.
func TestMustStapleWithoutOCSPWarnsBeforeOrdering(t *testing.T) {
	tests := []struct {
		name     string
		ocspURL  string // Pebble's OCSP responder URL for issued certs
		wantWarn bool
	}{
		{"no responder", "", true},
		{"responder", "http://127.0.0.1:9/", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ca := devca.StartT(t, devca.Options{OCSPResponderURL: tc.ocspURL})
			dir := t.TempDir()
			first := record([]string{ca.DirectoryURL}, "ms1.test")
			first.MustStaple = true
			res := runOrder(t, jsonl(t, first), caArgs(ca, dir)...)
			if res.code != 0 || len(res.recs[0].Order.Warnings) != 0 {
				t.Fatalf("first order (nothing known of the CA): exit %d, order %+v, error %+v\n%s", res.code, res.recs[0].Order, res.recs[0].Error, res.stderr)
			}
			install(t, dir, "ms1.test")

			second := record([]string{ca.DirectoryURL}, "ms2.test")
			second.MustStaple = true
			for _, args := range [][]string{{"--dry-run"}, nil} {
				res := runOrder(t, jsonl(t, second), append(caArgs(ca, dir), args...)...)
				o := res.recs[0].Order
				if res.code != 0 || o == nil {
					t.Fatalf("%v: exit %d, error %+v\n%s", args, res.code, res.recs[0].Error, res.stderr)
				}
				warned := len(o.Warnings) == 1 && strings.Contains(o.Warnings[0], "no OCSP responder") && strings.Contains(o.Warnings[0], "domains/ms1.test")
				if warned != tc.wantWarn || strings.Contains(res.stderr, "no OCSP responder") != tc.wantWarn {
					t.Errorf("%v: action %s, warnings %q; want a warning: %v\n%s", args, o.Action, o.Warnings, tc.wantWarn, res.stderr)
				}
			}
			// without must-staple nothing is said
			plain := record([]string{ca.DirectoryURL}, "plain.test")
			res = runOrder(t, jsonl(t, plain), append(caArgs(ca, dir), "--dry-run")...)
			if o := res.recs[0].Order; o == nil || len(o.Warnings) != 0 {
				t.Errorf("no must-staple: order %+v", o)
			}
		})
	}
}
