package apacheconf_test

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/apacheconf"
	"github.com/mdtools/mdtools/lib/cli"
)

// GenerateBenchConfig writes a config of n vhosts (an SSL vhost per MD
// plus a port-80 vhost, so n/2 MDs) spread over files Include files
// below dir and returns the main file.
func GenerateBenchConfig(dir string, n, files int) (string, error) {
	if err := os.MkdirAll(filepath.Join(dir, "sites"), 0o755); err != nil {
		return "", err
	}
	main := filepath.Join(dir, "httpd.conf")
	head := "ServerName bench.example\nServerAdmin admin@bench.example\nListen 80\nListen 443\n" +
		"MDCertificateAgreement accepted\nMDPrivateKeys secp256r1 rsa2048\nIncludeOptional sites/*.conf\n"
	if err := os.WriteFile(main, []byte(head), 0o644); err != nil {
		return "", err
	}
	mds := n / 2
	per := (mds + files - 1) / files
	for f := 0; f < files; f++ {
		var b strings.Builder
		for i := f * per; i < (f+1)*per && i < mds; i++ {
			fmt.Fprintf(&b, "<MDomain site%d.example www.site%d.example>\n  MDRenewWindow 30%%\n</MDomain>\n", i, i)
			fmt.Fprintf(&b, "<VirtualHost *:80>\n  ServerName site%d.example\n  ServerAlias www.site%d.example\n  DocumentRoot /var/www/site%d\n</VirtualHost>\n", i, i, i)
			fmt.Fprintf(&b, "<VirtualHost *:443>\n  ServerName site%d.example\n  ServerAlias www.site%d.example api.site%d.example\n  SSLEngine on\n  Protocols h2 http/1.1 acme-tls/1\n</VirtualHost>\n", i, i, i)
		}
		if err := os.WriteFile(filepath.Join(dir, "sites", fmt.Sprintf("site%03d.conf", f)), []byte(b.String()), 0o644); err != nil {
			return "", err
		}
	}
	return main, nil
}

// BenchmarkLoad: parse + model + JSON Lines for 1k, 10k and 100k vhosts
// over 100 Include files (scripts/bench-parse reports peak RSS).
func BenchmarkLoad(b *testing.B) {
	for _, n := range []int{1000, 10000, 100000} {
		b.Run(fmt.Sprintf("vhosts=%d", n), func(b *testing.B) {
			main, err := GenerateBenchConfig(b.TempDir(), n, 100)
			if err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pc, err := apacheconf.Load(main, apacheconf.Options{})
				if err != nil {
					b.Fatal(err)
				}
				w := cli.NewRecordWriter(io.Discard)
				for _, r := range pc.Records {
					if err := w.Write(r); err != nil {
						b.Fatal(err)
					}
				}
				if len(pc.Records) != n/2 {
					b.Fatalf("%d records", len(pc.Records))
				}
			}
		})
	}
}
