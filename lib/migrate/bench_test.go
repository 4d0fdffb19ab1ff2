package migrate_test

import (
	"fmt"
	"path/filepath"
	"testing"

	"github.com/mdtools/mdtools/lib/certtest"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/migrate"
	"github.com/mdtools/mdtools/lib/store"
	"github.com/mdtools/mdtools/lib/store/etcdstore/etcdtest"
)

// BenchmarkCopyToEtcd copies a file store of 500 MDs (md.json, certificate,
// key, job log each: 2,000 files) into a fresh prefix of an embedded etcd
// per iteration, locks and verification included:
//
//	go test -run '^$' -bench CopyToEtcd -benchtime 3x ./lib/migrate/
func BenchmarkCopyToEtcd(b *testing.B) {
	const mds = 500
	ctx := b.Context()
	srv := etcdtest.Start(b)
	key := nodeKeyB(b)
	dir := filepath.Join(b.TempDir(), "src")
	src, err := store.NewFS(dir)
	if err != nil {
		b.Fatal(err)
	}
	st, err := store.OpenBackend(ctx, src, dir)
	if err != nil {
		b.Fatal(err)
	}
	c := certtest.New(b, certtest.Spec{Names: []string{"bench.test"}})
	chain, keyPEM := c.PEM(), c.KeyPEM(b)
	for i := range mds {
		name := fmt.Sprintf("md%04d.test", i)
		if err := st.SaveMD(ctx, store.GroupDomains, &md.MD{Name: name, Domains: []string{name}}); err != nil {
			b.Fatal(err)
		}
		for f, data := range map[string][]byte{"pubcert.pem": chain, "privkey.pem": keyPEM} {
			if err := st.Write(ctx, store.GroupDomains, name, f, data); err != nil {
				b.Fatal(err)
			}
		}
		if err := st.SaveJob(ctx, store.GroupDomains, name, &md.Job{Name: name, Finished: true}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		dst := etcdBackendB(b, srv, fmt.Sprintf("/bench%d", i), key)
		rep, err := migrate.Copy(ctx, src, dst, dir, dst.String(), migrate.Options{})
		if err != nil || rep.Verified != 4*mds+1 {
			b.Fatalf("%v, %d verified", err, rep.Verified)
		}
	}
	b.ReportMetric(float64(4*mds+1), "files/op")
}
