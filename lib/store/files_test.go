package store

import "testing"

// Root file names of every kind of MD name are valid store file names,
// and distinct.
func TestRootFileNames(t *testing.T) {
	names := []string{"example.org", "*.example.org", "192.0.2.1", "::1", "2001:db8::1"} // MD names never have "_" (md.ValidateDomain)
	seen := map[string]string{}
	for _, n := range names {
		for _, f := range []string{ARIFile(n), RevokedFile(n)} {
			if err := checkFile(f); err != nil {
				t.Errorf("%s: %v", n, err)
			}
			if other, dup := seen[f]; dup {
				t.Errorf("%s and %s both map to %s", n, other, f)
			}
			seen[f] = n
		}
	}
	if got := RevokedFile("2001:db8::1"); got != "revoked-2001_db8__1.json" {
		t.Errorf("RevokedFile = %s", got)
	}
}
