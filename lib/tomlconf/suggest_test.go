package tomlconf

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/md"
)

// TestUnknownKeySuggestions: a misspelt key or table gets the key it most
// likely meant, from the keys allowed where it stands.
func TestUnknownKeySuggestions(t *testing.T) {
	const domain = "[[domain]]\ndomains = [\"a.example\"]\nwebroot = \"/srv\"\n"
	tests := []struct {
		name, conf, want string
	}{
		{"one letter missing", "[global]\nrenew-windw = \"33%\"\n",
			`md.toml:2: renew-windw: unknown key (did you mean "renew-window"?)`},
		{"two letters swapped", "[global]\ncontact-emial = \"a@example.org\"\n",
			`md.toml:2: contact-emial: unknown key (did you mean "contact-email"?)`},
		{"underscore", "[global]\nrenew_window = \"33%\"\n",
			`md.toml:2: renew_window: unknown key (did you mean "renew-window"?)`},
		{"underscore and typo", "[global]\nprivat_keys = [\"RSA\"]\n",
			`md.toml:2: privat_keys: unknown key (did you mean "private-keys"?)`},
		{"in a domain table", domain + "must-stapel = true\n",
			`md.toml:4: must-stapel: unknown key (did you mean "must-staple"?)`},
		{"global-only key in a domain", domain + "store-dri = \"/x\"\n",
			`md.toml:4: store-dri: unknown key (did you mean "store-dir"? it is only allowed in [global])`},
		{"domain-only key in global", "[global]\ncertificate-fil = \"x\"\n",
			`md.toml:2: certificate-fil: unknown key (did you mean "certificate-file"? it is only allowed in a [[domain]] table)`},
		{"directive name", "[global]\nMDRenewWindow = \"33%\"\n",
			`md.toml:2: MDRenewWindow: unknown key (md.toml spells MDRenewWindow as "renew-window")`},
		{"misspelt directive", "[global]\nMDStapeling = true\n",
			`md.toml:2: MDStapeling: unknown key (did you mean MDStapling? md.toml spells it "stapling")`},
		{"array table domains", "[[domains]]\ndomains = [\"a.example\"]\n",
			`md.toml:1: [[domains]]: unknown table (did you mean [[domain]]?)`},
		{"table globl", "[globl]\nwebroot = \"/srv\"\n",
			`md.toml:1: [globl]: unknown table (did you mean [global]?)`},
		{"unrelated table", "[[servers]]\nname = \"x\"\n",
			`md.toml:1: [[servers]]: unknown table (md.toml has [global] and [[domain]] tables)`},
		{"nothing close", "[global]\nfrobnicate = 1\n",
			`md.toml:2: frobnicate: unknown key`},
		{"short key, one edit only", "[global]\nmods = \"0644\"\n",
			`md.toml:2: mods: unknown key (did you mean "mode"?)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "md.toml")
			if err := os.WriteFile(path, []byte(tc.conf), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Load(path)
			if err == nil {
				t.Fatal("loaded; want an error")
			}
			got := strings.ReplaceAll(strings.SplitN(err.Error(), "\n", 2)[0], dir+"/", "")
			if got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "abc", 0},
		{"renew-windw", "renew-window", 1},
		{"contact-emial", "contact-email", 1}, // a swap is one edit
		{"kitten", "sitting", 3},
		{"ab", "ba", 1},
		{"abc", "", 3},
	}
	for _, tc := range tests {
		if got := md.EditDistance(tc.a, tc.b, 10); got != tc.want {
			t.Errorf("md.EditDistance(%q, %q) = %d; want %d", tc.a, tc.b, got, tc.want)
		}
		if got := md.EditDistance(tc.a, tc.b, 1); got != min(tc.want, 1) {
			t.Errorf("md.EditDistance(%q, %q, bound 1) = %d; want %d", tc.a, tc.b, got, min(tc.want, 1))
		}
	}
}
