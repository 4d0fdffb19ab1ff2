package staple

import (
	"context"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/fsread/fsreadtest"
	"github.com/mdtools/mdtools/lib/md"
)

// TestCertFileSpecialFiles: md-staple --cert naming /dev/zero, a FIFO or a
// 100 MB sparse file fails that entry with an error naming the file,
// instead of filling memory or blocking.
func TestCertFileSpecialFiles(t *testing.T) {
	for _, sp := range fsreadtest.Specials(t) {
		t.Run(sp.Name, func(t *testing.T) {
			r := &Runner{Store: newStore(t), Parallel: 1, Notifier: (&events{}).notifier}
			var out []*md.Record
			var err error
			fsreadtest.NoHang(t, func() {
				out, err = r.RunRecords(context.Background(), nil, &Options{CertFiles: []string{sp.Path}})
			})
			if err != nil || len(out) != 1 || out[0].Error == nil || !strings.Contains(out[0].Error.Detail, sp.Want) {
				t.Fatalf("got %v %+v; want an error containing %q", err, out, sp.Want)
			}
		})
	}
}
