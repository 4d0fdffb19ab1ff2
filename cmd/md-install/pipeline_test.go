package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/apachetest"
	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// buildTool builds one of the other md-* commands for a pipeline test.
func buildTool(t *testing.T, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command("go", "build", "-o", bin, "../"+name)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", name, err, out)
	}
	return bin
}

// TestPipelineParseOrderInstall is the "done when": md-parse |
// md-order | md-install on a real Apache config (MD directives in
// <IfModule md_module>, so this Apache without mod_md ignores them) leaves
// Apache serving the new certificates, proven by a TLS handshake.
func TestPipelineParseOrderInstall(t *testing.T) {
	parse, order := buildTool(t, "md-parse"), buildTool(t, "md-order")
	ports, err := devca.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	ca := devca.StartT(t, devca.Options{HTTPPort: ports[0]})
	storeDir := t.TempDir()
	snippets := filepath.Join(t.TempDir(), "apache")
	a := &apacheServer{httpPort: ports[0], httpsPort: ports[1]}
	a.Server = apachetest.New(t, apachetest.Options{Modules: []string{"mpm_event", "authz_core", "ssl", "rewrite", "headers"},
		Config: func(*apachetest.Server) string {
			var b strings.Builder
			fmt.Fprintf(&b, "ServerName localhost\nServerAdmin admin@pipe.test\nListen 127.0.0.1:%d\nListen 127.0.0.1:%d\n", a.httpPort, a.httpsPort)
			fmt.Fprintf(&b, "<IfModule md_module>\n  MDCertificateAuthority %s\n  MDCertificateAgreement accepted\n  MDCACertificateFile %s\n  MDPortMap http:%d https:%d\n  MDRequireHttps temporary\n  MDomain pipe.test www.pipe.test\n</IfModule>\n",
				ca.DirectoryURL, ca.RootsFile, a.httpPort, a.httpsPort)
			for _, v := range []struct {
				port int
				ssl  string
			}{{a.httpPort, ""}, {a.httpsPort, "  SSLEngine on\n"}} {
				fmt.Fprintf(&b, "<VirtualHost 127.0.0.1:%d>\n  ServerName pipe.test\n  ServerAlias www.pipe.test\n%s  IncludeOptional %s/pipe.test.conf\n</VirtualHost>\n", v.port, v.ssl, snippets)
			}
			return b.String()
		}})

	run := func(bin string, stdin []byte, args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Stdin = bytes.NewReader(stdin)
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s: %v\n%s", filepath.Base(bin), err, errOut.String())
		}
		return out.Bytes()
	}
	// First deployment: Apache is not running yet, md-order answers http-01
	// itself on the port Pebble validates; md-install starts Apache.
	parsed := run(parse, nil, "--store", storeDir, a.Conf)
	ordered := run(order, parsed, "--store", storeDir, "--http-listen", fmt.Sprintf("127.0.0.1:%d", a.httpPort), "--ca-file", ca.RootsFile)
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), tool(), []string{"md-install", "--store", storeDir, "--apache-dir", snippets,
		"--reload-cmd", strings.Join(a.Args("-k", "graceful"), " "), "--verify-timeout", "20s"},
		cli.Env{Stdin: bytes.NewReader(ordered), Stdout: &out, Stderr: &errOut})
	if code != cli.ExitOK {
		t.Fatalf("md-install exit %d\n%s\nmd-order said: %s", code, errOut.String(), ordered)
	}
	recs, err := cli.ReadRecords(&out, "stdout", false)
	if err != nil || len(recs) != 1 {
		t.Fatalf("records: %v %d", err, len(recs))
	}
	in := recs[0].Install
	if in.Action != "activated" || in.Served == nil || !*in.Served {
		t.Fatalf("install %+v error %+v", in, recs[0].Error)
	}
	st, err := store.Open(t.Context(), storeDir)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := st.LoadChain(t.Context(), store.GroupDomains, "pipe.test", md.DefaultKeySpecs[0].FileName("pubcert"))
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"pipe.test", "www.pipe.test"} {
		if fp := a.served(t, name); fp != in.Certs[0].SHA256 || fp != fingerprintOf(chain[0].Raw) {
			t.Errorf("%s: Apache serves %s; want the ordered certificate %s", name, fp, in.Certs[0].SHA256)
		}
	}
	if m, _ := st.LoadMD(t.Context(), store.GroupDomains, "pipe.test"); m == nil || m.CA.Account == "" || m.State != md.StateComplete {
		t.Errorf("live md.json: %+v", m)
	}
}

func fingerprintOf(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}
