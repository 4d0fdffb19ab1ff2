// Command devca runs the local Pebble ACME CA (lib/devca) on loopback until
// interrupted, for `make demo` and benchmarks. It prints shell variable
// assignments on stdout once the CA is ready:
//
//	MD_CA_URL=https://127.0.0.1:PORT/dir
//	MD_CA_ROOTS=/tmp/devca-.../tls-cert.pem
//	MD_CA_HTTP_PORT=PORT   (where the CA connects for http-01)
//	MD_CA_TLS_PORT=PORT    (where the CA connects for tls-alpn-01)
//	MD_CA_DNS=127.0.0.1:PORT, MD_CA_CHALLSRV=http://127.0.0.1:PORT
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mdtools/mdtools/lib/devca"
)

func main() {
	httpPort := flag.Int("http-port", 0, "port the CA validates http-01 on (0: a free one)")
	tlsPort := flag.Int("tls-port", 0, "port the CA validates tls-alpn-01 on (0: a free one)")
	keyAlg := flag.String("key-algorithm", "", "issuer key algorithm: ecdsa (default) or rsa")
	dir := flag.String("dir", "", "directory for config and logs (default: a temp dir)")
	bench := flag.Bool("bench-conditions", false, "Pebble's default authz reuse, as the published peer figures were taken")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opts := devca.Options{HTTPPort: *httpPort, TLSPort: *tlsPort, KeyAlgorithm: *keyAlg, Dir: *dir}
	if *bench {
		opts.Env = map[string]string{"PEBBLE_AUTHZREUSE": "50"}
	}
	ca, err := devca.Start(ctx, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, "devca: error:", err)
		os.Exit(1)
	}
	defer ca.Stop()
	fmt.Printf("MD_CA_URL=%s\nMD_CA_ROOTS=%s\nMD_CA_HTTP_PORT=%d\nMD_CA_TLS_PORT=%d\nMD_CA_DNS=%s\nMD_CA_CHALLSRV=%s\nMD_CA_DIR=%s\n",
		ca.DirectoryURL, ca.RootsFile, ca.HTTPPort, ca.TLSPort, ca.DNSAddr, ca.ChallSrvURL, ca.Dir)
	os.Stdout.Sync()
	fmt.Fprintln(os.Stderr, "devca: local Pebble CA ready; Ctrl-C stops it")
	<-ctx.Done()
}
