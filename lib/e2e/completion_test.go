package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestBashCompletion runs scripts/completion/mdtools.bash as bash would:
// md-renew's flags (from its --help), md-challenge's commands and each
// command's own flags (issue 12 item 6), and a plain command's flags.
func TestBashCompletion(t *testing.T) {
	root := moduleRoot()
	tests := []struct {
		words []string
		want  []string
		not   []string
	}{
		{[]string{"md-renew", "--"}, []string{"--store", "--order-args", "--install-args", "--staple-args", "--syslog", "--wait", "--help"}, []string{"--apache-dir", "--reload-cmd"}},
		{[]string{"md-renew", "--st"}, []string{"--store", "--staple-args"}, []string{"--syslog"}},
		{[]string{"md-challenge", ""}, []string{"setup", "teardown", "serve"}, nil},
		{[]string{"md-challenge", "se"}, []string{"setup", "serve"}, []string{"teardown"}},
		{[]string{"md-challenge", "serve", "--"}, []string{"--http", "--tls", "--config", "--store"}, []string{"--tasks"}},
		{[]string{"md-challenge", "setup", "--ta"}, []string{"--tasks"}, nil},
		{[]string{"md-status", "--con"}, []string{"--config"}, nil},
		{[]string{"md-order", "--ht"}, []string{"--http-listen"}, nil},
		{[]string{"md-parse", "import", "--to"}, []string{"--toml"}, nil},
		{[]string{"md-parse", "import", "--"}, []string{"--apache", "--report", "--server", "--dry-run"}, []string{"--httpd-version"}},
		{[]string{"md-parse", "import", ""}, []string{"certbot", "lego", "acme.sh", "store"}, nil},
		{[]string{"md-parse", "import", "--merge", "s"}, []string{"store"}, []string{"certbot"}},
		{[]string{"md-parse", "import", "--me"}, []string{"--merge"}, nil},
		{[]string{"md-parse", "import", "-n", "l"}, []string{"lego"}, []string{"certbot"}},
		{[]string{"md-parse", "--ht"}, []string{"--httpd-version"}, []string{"--toml"}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.words, " "), func(t *testing.T) {
			script := `source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _mdtools_complete; printf '%s\n' "${COMPREPLY[@]}"`
			cmd := exec.Command("bash", append([]string{"-c", script, "bash", filepath.Join(root, "scripts/completion/mdtools.bash")}, tc.words...)...)
			cmd.Dir = t.TempDir() // file-name completion finds nothing here
			cmd.Env = append(os.Environ(), "PATH="+binDir+":"+filepath.Join(root, "scripts")+":"+os.Getenv("PATH"))
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("bash: %v", err)
			}
			got := strings.Fields(string(out))
			for _, w := range tc.want {
				if !slices.Contains(got, w) {
					t.Errorf("completions %q lack %q", got, w)
				}
			}
			for _, w := range tc.not {
				if slices.Contains(got, w) {
					t.Errorf("completions %q offer %q", got, w)
				}
			}
		})
	}
}
