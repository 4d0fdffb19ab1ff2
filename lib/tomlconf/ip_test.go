package tomlconf

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestIPAddressDomains: md.toml domains take IP addresses, kept in
// canonical form; a malformed one is a file:line error.
func TestIPAddressDomains(t *testing.T) {
	for _, tc := range []struct {
		name, domains string
		want          []string
		wantErr       string
	}{
		{"mixed", `["A.test", "192.0.2.10", "2001:DB8:0::1"]`, []string{"a.test", "192.0.2.10", "2001:db8::1"}, ""},
		{"v6 name", `["::1"]`, []string{"::1"}, ""},
		{"malformed", `["a.test", "2001:db8::1::2"]`, nil, "md.toml:3: domains: \"2001:db8::1::2\" is not a valid IP address"},
		{"mapped", `["::ffff:192.0.2.1"]`, nil, "md.toml:3: domains: IP address \"::ffff:192.0.2.1\" is an IPv4-mapped IPv6 address; write the IPv4 address 192.0.2.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "md.toml")
			if err := os.WriteFile(path, []byte("[[domain]]\n\ndomains = "+tc.domains+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			pc, err := Load(path)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Load: %v; want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(pc.Records) != 1 || !slices.Equal(pc.Records[0].Domains, tc.want) || pc.Records[0].Name != tc.want[0] {
				t.Fatalf("records %+v; want one MD with %q", pc.Records, tc.want)
			}
		})
	}
}
