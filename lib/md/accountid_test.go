package md

import (
	"fmt"
	"strings"
	"testing"
)

func TestAccountIDPrefix(t *testing.T) {
	for url, want := range map[string]string{
		"https://acme-v02.api.letsencrypt.org/directory": "ACME-.letsencrypt.org-",
		"https://localhost:14000/dir":                    "ACME-localhost-",
		"https://127.0.0.1:14000/dir":                    "ACME-127.0.0.1-",
		"https://[::1]:14000/dir":                        "ACME-__1-",
		"https://api.buypass.com/acme/directory":         "ACME-api.buypass.com-",
		"not a url":                                      "ACME-unknown-",
	} {
		if got := AccountIDPrefix(url); got != want {
			t.Errorf("AccountIDPrefix(%s) = %q; want %q", url, got, want)
		}
	}
}

func TestFreeAccountID(t *testing.T) {
	url := "https://localhost:14000/dir"
	taken := map[string]bool{"ACME-localhost-0000": true, "ACME-localhost-0002": true}
	if id, err := FreeAccountID(url, func(id string) bool { return taken[id] }); err != nil || id != "ACME-localhost-0001" {
		t.Errorf("FreeAccountID = %q, %v", id, err)
	}
	for n := 0; n < MaxAccountIDs; n++ {
		taken[fmt.Sprintf("ACME-localhost-%04d", n)] = true
	}
	if _, err := FreeAccountID(url, func(id string) bool { return taken[id] }); err == nil || !strings.Contains(err.Error(), "-0999 all exist") {
		t.Errorf("all taken: %v", err)
	}
}
