package status

import (
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/fsread/fsreadtest"
	"github.com/mdtools/mdtools/lib/store"
)

// TestStaticCertSpecialFiles: a static certificate file (MDCertificateFile)
// that is /dev/zero, a FIFO or a 100 MB sparse file is reported as a
// problem naming the file; before, /dev/zero grew md-status without bound
// and a FIFO blocked it.
func TestStaticCertSpecialFiles(t *testing.T) {
	for _, sp := range fsreadtest.Specials(t) {
		t.Run(sp.Name, func(t *testing.T) {
			dir := t.TempDir()
			st, err := store.Open(t.Context(), dir)
			must(t, err)
			m := baseMD("static.test")
			m.CertFiles, m.PKeyFiles = []string{sp.Path}, []string{sp.Path}
			must(t, st.SaveMD(t.Context(), store.GroupDomains, m))
			ro, err := store.OpenReadOnly(dir)
			must(t, err)
			var rep *Report
			fsreadtest.NoHang(t, func() { rep, err = (&Reader{Store: ro}).Load(t.Context(), "static.test") })
			must(t, err)
			if len(rep.Certs) != 1 || !rep.Certs[0].Bad || rep.Certs[0].Info != nil {
				t.Errorf("certs = %+v; want one bad certificate", rep.Certs)
			}
			if len(rep.Problems) != 1 || !strings.Contains(rep.Problems[0], sp.Want) {
				t.Errorf("problems = %q; want one containing %q", rep.Problems, sp.Want)
			}
		})
	}
}
