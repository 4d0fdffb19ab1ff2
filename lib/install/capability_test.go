package install

import (
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/store"
)

// noLocalDir is a backend without the LocalDir capability, as a network
// store would be (embedding the interface hides FS's other methods).
type noLocalDir struct{ store.Backend }

// TestApacheSnippetsNeedLocalDir: on a backend without a local directory
// md-install cannot know the path Apache reads; it says so and asks for
// --apache-store-dir instead of writing snippets with relative paths, and
// works once given one.
func TestApacheSnippetsNeedLocalDir(t *testing.T) {
	ctx := t.Context()
	fsb, err := store.NewFS(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.OpenBackend(ctx, noLocalDir{fsb}, "etcd://test")
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Store: st, ApacheDir: t.TempDir(), NoVerify: true}
	if err := Run(ctx, opts, nil); err == nil || !strings.Contains(err.Error(), "--apache-store-dir") {
		t.Errorf("Run without a local store directory: %v, want an error asking for --apache-store-dir", err)
	}
	opts.StoreDir = "/srv/md"
	if err := Run(ctx, opts, nil); err != nil {
		t.Errorf("Run with --apache-store-dir: %v", err)
	}
}
