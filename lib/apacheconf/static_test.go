package apacheconf

import (
	"path/filepath"
	"testing"

	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/md"
)

// TestStaticCertState: an MD with MDCertificateFile gets mod_md's state
// from the certificate itself (md-parse --dry-run shows it before any
// store sync): a certificate that does not cover all domains leaves the MD
// incomplete, as Apache's mod_md reports it.
func TestStaticCertState(t *testing.T) {
	dir := t.TempDir()
	cert := func(file string, names ...string) string {
		return certtest.WriteSelfSigned(t, filepath.Join(dir, file), names...)
	}
	tests := []struct {
		name, file string
		state      int
		descr      string
	}{
		{"covers", cert("both.pem", "a.test", "b.test"), md.StateComplete, ""},
		{"does not cover", cert("one.pem", "a.test"), md.StateIncomplete, "certificate(rsa) does not cover all domains."},
		{"missing", filepath.Join(dir, "none.pem"), md.StateIncomplete, "certificate(rsa) is missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conf := vhost + "<MDomain a.test b.test>\nMDCertificateFile " + tc.file + "\nMDCertificateKeyFile " + tc.file + ".key\n</MDomain>\n" +
				"<VirtualHost *:443>\nServerName a.test\nServerAlias b.test\nSSLEngine on\n</VirtualHost>\n"
			pc, ces, _ := loadText(t, map[string]string{"main.conf": conf}, Options{})
			if len(ces) > 0 || pc == nil || len(pc.Records) != 1 {
				t.Fatalf("Load: %v", ces)
			}
			m := pc.Records[0].MD
			if m.State != tc.state || m.StateDescr != tc.descr {
				t.Errorf("state %d %q; want %d %q", m.State, m.StateDescr, tc.state, tc.descr)
			}
		})
	}
}
