package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/store"
)

// TestImportStoreUsage: what import store refuses, with exit 2, nothing on
// stdout, and the reason on stderr.
func TestImportStoreUsage(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	if _, err := store.Open(t.Context(), src); err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "dst")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"import", "store", src, "--store", dst}, "options go before the arguments: md-parse import --store " + dst + " store " + src},
		{[]string{"import", "--store", dst, "store"}, "needs the SOURCE store"},
		{[]string{"import", "--store", dst, "--overwrite", "store", src}, "--overwrite needs --merge"},
		{[]string{"import", "--store", dst, "--toml", "x.toml", "store", src}, "--toml does not apply"},
		{[]string{"import", "--store", src, "store", src}, "the same store"},
		{[]string{"import", "--store", src + "/", "store", src}, "the same store"},
		{[]string{"import", "--store", "etcd://127.0.0.1:1/mdtools", "store", "etcd://127.0.0.1:1"}, "the same store etcd://127.0.0.1:1/mdtools"},
		{[]string{"import", "--store", dst, "store", t.TempDir()}, "not a store (no md_store.json)"},
		{[]string{"import", "--store", dst, "store", "etcd://nohost/x"}, "host:port"},
		{[]string{"import", "--store", dst, "--merge", "certbot", t.TempDir()}, "apply to import store only"},
	} {
		code, out, errOut := run(t, tc.args...)
		if code != cli.ExitUsage || out != "" || !strings.Contains(errOut, tc.want) {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, code, out, errOut, tc.want)
		}
	}
}

// TestImportStoreDirs copies a store between two directories: the report
// on stdout, then a second copy into the now full destination is refused
// and with --merge changes nothing.
func TestImportStoreDirs(t *testing.T) {
	src, dst := filepath.Join(t.TempDir(), "src"), filepath.Join(t.TempDir(), "dst")
	st, err := store.Open(t.Context(), src)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Write(t.Context(), store.GroupDomains, "a.test", "md.json", []byte(`{"name":"a.test"}`)); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := run(t, "import", "--store", dst, "store", src)
	if code != cli.ExitOK || !strings.Contains(out, `"verified": 2`) || !strings.Contains(out, `"store-key": "copied"`) {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	if code, _, errOut := run(t, "import", "--store", dst, "store", src); code != cli.ExitUsage || !strings.Contains(errOut, "not empty") {
		t.Errorf("second copy: exit %d, %s", code, errOut)
	}
	code, out, errOut = run(t, "import", "--store", dst, "--merge", "store", src)
	if code != cli.ExitOK || !strings.Contains(out, `"unchanged": 2`) || !strings.Contains(out, `"store-key": "same"`) {
		t.Errorf("merge: exit %d\n%s\n%s", code, out, errOut)
	}
}
