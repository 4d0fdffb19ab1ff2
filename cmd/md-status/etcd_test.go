package main

import (
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/store/etcdstore"
	"github.com/mdtools/mdtools/lib/store/etcdstore/etcdtest"
)

// TestEtcdStore: md-status reads an MD from a store in a real etcd named
// by --store etcd://.
func TestEtcdStore(t *testing.T) {
	srv := etcdtest.Start(t)
	b, err := etcdstore.New(etcdstore.Config{Endpoints: []string{srv.Endpoint}, Prefix: "/st"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st, err := store.OpenBackend(t.Context(), b, b.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.SaveMD(t.Context(), store.GroupDomains, &md.MD{Name: "etcd.example", Domains: []string{"etcd.example"}}); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runTool("--json", "--store", "etcd://"+srv.Endpoint+"/st")
	if code != 0 || !strings.Contains(out, "etcd.example") {
		t.Errorf("md-status --store etcd:// = %d, stdout %q, stderr %q; want the MD", code, out, errOut)
	}
}
