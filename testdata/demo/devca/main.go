// Command devca is scripts/devca plus an OCSP responder, for `make demo`:
// it runs the local Pebble ACME CA (lib/devca, RSA issuer) with a real OCSP
// responder (lib/staple/ocsptest, signing with Pebble's intermediate key)
// whose URL Pebble puts into every certificate, so md-staple has something
// to staple. It prints the same shell assignments as scripts/devca, plus
// MD_CA_OCSP and MD_DEMO_PORTS (two free loopback ports for a web server),
// once both are ready, and runs until SIGTERM or Ctrl-C.
//
//	go run ./testdata/demo/devca [-dir DIR] [-bench-conditions]
//
// scripts/bench-cycle uses it too, so that md-staple has work to measure.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/staple/ocsptest"
	"github.com/mdtools/mdtools/lib/store"
)

func main() {
	dir := flag.String("dir", "", "directory for config and logs (default: a temp dir)")
	bench := flag.Bool("bench-conditions", false, "Pebble's default authz reuse, as scripts/devca -bench-conditions")
	flag.Parse()
	if err := run(*dir, *bench); err != nil {
		fmt.Fprintln(os.Stderr, "devca: error:", err)
		os.Exit(1)
	}
}

func run(dir string, bench bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	resp, err := ocsptest.Listen()
	if err != nil {
		return err
	}
	defer resp.Close()
	opts := devca.Options{KeyAlgorithm: "rsa", OCSPResponderURL: resp.URL, Dir: dir}
	if bench {
		opts.Env = map[string]string{"PEBBLE_AUTHZREUSE": "50"}
	}
	ca, err := devca.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer ca.Stop()
	ipem, err := ca.IntermediatePEM()
	if err != nil {
		return err
	}
	kpem, err := ca.IntermediateKeyPEM()
	if err != nil {
		return err
	}
	issuer, err := store.ParseChainPEM(ipem)
	if err != nil {
		return err
	}
	key, err := store.ParseKeyPEM(kpem, nil)
	if err != nil {
		return err
	}
	if err := resp.SetIssuer(issuer[0], key); err != nil {
		return err
	}
	// Two more free ports, for the demo's Apache (http and https).
	ports, err := devca.FreePorts(2)
	if err != nil {
		return err
	}
	fmt.Printf("MD_DEMO_PORTS='%d %d'\n", ports[0], ports[1])
	fmt.Printf("MD_CA_URL=%s\nMD_CA_ROOTS=%s\nMD_CA_HTTP_PORT=%d\nMD_CA_TLS_PORT=%d\nMD_CA_DNS=%s\nMD_CA_CHALLSRV=%s\nMD_CA_OCSP=%s\nMD_CA_DIR=%s\n",
		ca.DirectoryURL, ca.RootsFile, ca.HTTPPort, ca.TLSPort, ca.DNSAddr, ca.ChallSrvURL, resp.URL, ca.Dir)
	os.Stdout.Sync()
	fmt.Fprintln(os.Stderr, "devca: local Pebble CA and OCSP responder ready; Ctrl-C stops them")
	<-ctx.Done()
	return nil
}
