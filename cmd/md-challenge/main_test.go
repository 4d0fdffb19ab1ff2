package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/challenge"
	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"golang.org/x/crypto/acme"
)

// TestMain lets tests run the real main (signals, os.Exit) in a child.
func TestMain(m *testing.M) {
	if os.Getenv("MD_CHALLENGE_TEST_MAIN") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

const (
	tok   = "evaGxfADs6pSRb2LAv9IZf17Dt3juxGJ-PCt92wr-oA"
	thumb = "9jg46WB3rR_AHD-EBXdN7cBkH1WOu0tA3M9fm21mqTI"
	ka    = tok + "." + thumb
)

func TestHelpNamesTheJob(t *testing.T) {
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), tool(), []string{"md-challenge", "--help"}, cli.Env{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut})
	if code != cli.ExitOK || !strings.Contains(out.String(), tool().Usage) || !strings.Contains(out.String(), "--version") {
		t.Errorf("exit %d, help:\n%s%s", code, out.String(), errOut.String())
	}
}

type result struct {
	code        int
	out, errOut string
}

func runCmd(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Run(context.Background(), tool(), append([]string{"md-challenge"}, args...), cli.Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut})
	return result{code, out.String(), errOut.String()}
}

func TestVerbHelpAndUsage(t *testing.T) {
	for _, verb := range []string{"setup", "teardown", "serve"} {
		r := runCmd(t, "", verb, "--help")
		if r.code != 0 || !strings.Contains(r.out, "Examples:") || !strings.Contains(r.out, "md-challenge "+verb) {
			t.Errorf("%s --help: exit %d\n%s%s", verb, r.code, r.out, r.errOut)
		}
	}
	tests := []struct {
		args []string
		want string
	}{
		{nil, "missing command"},
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"stup"}, "did you mean md-challenge setup?"},
		{[]string{"setup", "--taks", "x"}, "did you mean --tasks?"},
		{[]string{"-v", "setup"}, "put the command first"},
		{[]string{"setup"}, "setup needs --tasks"},
		{[]string{"serve"}, "serve needs --http"},
		{[]string{"serve", "--http", ":0", "extra"}, "serve takes no arguments"},
		{[]string{"setup", "--tasks", "-"}, "name the record files"},
		{[]string{"setup", "--bogus"}, "unknown flag --bogus"},
	}
	for _, tc := range tests {
		r := runCmd(t, "", tc.args...)
		if r.code != cli.ExitUsage || !strings.Contains(r.errOut, tc.want) || r.out != "" {
			t.Errorf("%q: exit %d, stdout %q, stderr %q; want exit 2 and %q", tc.args, r.code, r.out, r.errOut, tc.want)
		}
	}
}

// fixture writes a record file and returns paths.
type fixture struct {
	store, webroot, records, hookLog, dir string
}

func newFixture(t *testing.T) fixture {
	t.Helper()
	dir := t.TempDir()
	f := fixture{store: filepath.Join(dir, "store"), webroot: filepath.Join(dir, "www"), records: filepath.Join(dir, "records.jsonl"),
		hookLog: filepath.Join(dir, "hook.log"), dir: dir}
	hook, _ := filepath.Abs("../../testdata/event/record-argv")
	recs := []md.Record{
		{MD: md.MD{Name: "a.test", Domains: []string{"a.test", "www.a.test"}, RenewMode: 1, Proto: md.Proto{ACMETLS1: []string{"a.test"}},
			CmdDNS01: hook + " " + f.hookLog, PrivKey: md.KeySpecs{{Type: md.KeyEC, Curve: "P-256"}}},
			// a listener address in the record is for md-order; setup must not bind it
			Host: &md.HostConfig{Webroot: f.webroot, HTTPListen: "192.0.2.1:80"}},
		{MD: md.MD{Name: "b.test", Domains: []string{"b.test", "*.b.test"}, RenewMode: 1}},
	}
	var buf bytes.Buffer
	for _, r := range recs {
		b, _ := json.Marshal(r)
		buf.Write(append(b, '\n'))
	}
	if err := os.WriteFile(f.records, buf.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f fixture) tasks(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(f.dir, fmt.Sprintf("tasks-%d.jsonl", time.Now().UnixNano()))
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func exists(p string) bool { _, err := os.Stat(p); return err == nil }

func TestSetupAndTeardown(t *testing.T) {
	f := newFixture(t)
	tasks := f.tasks(t,
		"# the three types for a.test, one for b.test's wildcard",
		`{"md":"a.test","type":"http-01","domain":"www.a.test","token":"`+tok+`","key-authorization":"`+ka+`"}`,
		`{"type":"tls-alpn-01","domain":"a.test","token":"`+tok+`","key-authorization":"`+ka+`"}`,
		``,
		`{"type":"dns-01","domain":"a.test","token":"`+tok+`","key-authorization":"`+ka+`"}`,
		`{"type":"http-01","domain":"b.test","token":"`+tok+`","key-authorization":"`+ka+`"}`,
	)
	r := runCmd(t, "", "setup", "-d", f.store, "--tasks", tasks, f.records)
	if r.code != 0 {
		t.Fatalf("setup: exit %d\n%s", r.code, r.errOut)
	}
	if lines := strings.Split(strings.TrimSpace(r.out), "\n"); len(lines) != 2 || !strings.Contains(lines[0], `"name":"a.test"`) || strings.Contains(r.out, `"error"`) {
		t.Errorf("stdout:\n%s", r.out)
	}
	for _, p := range []string{
		"store/challenges/www.a.test/acme-http-01.txt", "www/.well-known/acme-challenge/" + tok,
		"store/challenges/a.test/acme-tls-alpn-01-pubcert.p-256.pem", "store/challenges/a.test/acme-tls-alpn-01-privkey.p-256.pem",
		"store/challenges/b.test/acme-http-01.txt",
	} {
		if !exists(filepath.Join(f.dir, p)) {
			t.Errorf("%s missing after setup", p)
		}
	}
	if b, _ := os.ReadFile(f.hookLog); !strings.Contains(string(b), "[setup][a.test]["+challenge.DNS01Value(ka)+"]") {
		t.Errorf("dns-01 hook log: %q", b)
	}

	// teardown needs only type and domain
	down := f.tasks(t, `{"type":"http-01","domain":"www.a.test"}`, `{"type":"dns-01","domain":"a.test"}`)
	if r := runCmd(t, "", "teardown", "-d", f.store, "--tasks", down, f.records); r.code != 0 {
		t.Fatalf("teardown: exit %d\n%s", r.code, r.errOut)
	}
	if exists(filepath.Join(f.dir, "store/challenges/www.a.test")) || exists(filepath.Join(f.dir, "www/.well-known/acme-challenge", tok)) {
		t.Error("http-01 data left after teardown")
	}
	if b, _ := os.ReadFile(f.hookLog); !strings.Contains(string(b), "[teardown][a.test] stdin-eof") {
		t.Errorf("dns-01 teardown not run: %q", b)
	}
	// teardown without tasks clears everything stored for the MDs
	if r := runCmd(t, "", "teardown", "-d", f.store, f.records); r.code != 0 {
		t.Fatalf("teardown all: exit %d\n%s", r.code, r.errOut)
	}
	if entries, _ := os.ReadDir(filepath.Join(f.store, "challenges")); len(entries) != 0 {
		t.Errorf("left in challenges/: %v", entries)
	}
}

func TestSetupFailureIsRecorded(t *testing.T) {
	f := newFixture(t)
	tasks := f.tasks(t,
		`{"type":"dns-01","domain":"b.test","token":"`+tok+`","key-authorization":"`+ka+`"}`,
		`{"type":"http-01","domain":"www.a.test","token":"`+tok+`","key-authorization":"`+ka+`"}`)
	r := runCmd(t, "", "setup", "-d", f.store, "--tasks", tasks, f.records)
	if r.code != cli.ExitFailed {
		t.Fatalf("exit %d; want 1\n%s", r.code, r.errOut)
	}
	var recs []md.Record
	sc := bufio.NewScanner(strings.NewReader(r.out))
	for sc.Scan() {
		var rec md.Record
		if err := json.Unmarshal(sc.Bytes(), &rec); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec)
	}
	if len(recs) != 2 || recs[0].Error != nil || recs[1].Error == nil {
		t.Fatalf("records: %+v", recs)
	}
	if e := recs[1].Error; e.Stage != "challenge" || e.Problem != challenge.ProblemMismatch || !strings.Contains(e.Detail, "no dns-01 command") {
		t.Errorf("error %+v", e)
	}
	if !strings.Contains(r.errOut, "b.test: challenge:") {
		t.Errorf("stderr %q", r.errOut)
	}
	if !exists(filepath.Join(f.store, "challenges", "www.a.test", "acme-http-01.txt")) {
		t.Error("the good task was not set up")
	}
}

func TestBadTaskListsDoNothing(t *testing.T) {
	f := newFixture(t)
	good := `{"type":"http-01","domain":"a.test","token":"` + tok + `","key-authorization":"` + ka + `"}`
	tests := []struct{ name, line, want string }{
		{"path in token", `{"type":"http-01","domain":"a.test","token":"../../../../../tmp/xxxxxxxxxxxxxxxxxxxx","key-authorization":"x"}`, "line 2: invalid challenge token"},
		{"path in domain", `{"type":"http-01","domain":"../a.test","token":"` + tok + `","key-authorization":"` + ka + `"}`, "line 2:"},
		{"unknown field", `{"type":"http-01","domain":"a.test","tokn":"x"}`, `line 2: json: unknown field "tokn"`},
		{"not json", `type=http-01`, "line 2: invalid character"},
		{"two values", good + good, "line 2: more than one JSON value"},
		{"missing key auth", `{"type":"http-01","domain":"a.test","token":"` + tok + `"}`, "line 2: key authorization"},
		{"unknown md", `{"md":"c.test","type":"http-01","domain":"a.test","token":"` + tok + `","key-authorization":"` + ka + `"}`, `md "c.test" is not among the input records`},
		{"bad md", `{"md":"a/b","type":"http-01","domain":"a.test","token":"` + tok + `","key-authorization":"` + ka + `"}`, `field "md"`},
		{"domain of no record", `{"type":"http-01","domain":"z.test","token":"` + tok + `","key-authorization":"` + ka + `"}`, "no input record has the domain z.test"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, "", "setup", "-d", f.store, "--tasks", f.tasks(t, good, tc.line), f.records)
			if r.code != cli.ExitUsage || !strings.Contains(r.errOut, tc.want) || r.out != "" {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit 2 and %q", r.code, r.out, r.errOut, tc.want)
			}
			if exists(filepath.Join(f.store, "challenges", "a.test")) {
				t.Fatal("the good first task was set up although the list is bad")
			}
		})
	}
	// tasks from stdin, records from a file
	if r := runCmd(t, good+"\n", "setup", "-d", f.store, "--tasks", "-", f.records); r.code != 0 {
		t.Fatalf("tasks on stdin: exit %d %s", r.code, r.errOut)
	}
}

// startServe runs the real binary's main in a child: md-challenge serve.
func startServe(t *testing.T, storeDir string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"serve", "-d", storeDir, "-v"}, args...)...)
	cmd.Env = append(os.Environ(), "MD_CHALLENGE_TEST_MAIN=1")
	var errOut bytes.Buffer
	cmd.Stderr = &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			t.Logf("serve stderr:\n%s", errOut.String())
		}
	})
	return cmd
}

func waitHTTP(t *testing.T, url, host string) *http.Response {
	t.Helper()
	for i := 0; i < 100; i++ {
		req, _ := http.NewRequest("GET", url, nil)
		req.Host = host
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			return resp
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing answers %s", url)
	return nil
}

// TestServeAnswersAndStopsOnSIGTERM runs md-challenge serve as a process.
func TestServeAnswersAndStopsOnSIGTERM(t *testing.T) {
	f := newFixture(t)
	tasks := f.tasks(t,
		`{"type":"http-01","domain":"www.a.test","token":"`+tok+`","key-authorization":"`+ka+`"}`,
		`{"type":"tls-alpn-01","domain":"a.test","token":"`+tok+`","key-authorization":"`+ka+`"}`)
	if r := runCmd(t, "", "setup", "-d", f.store, "--tasks", tasks, f.records); r.code != 0 {
		t.Fatalf("setup: %s", r.errOut)
	}
	ports, err := devca.FreePorts(2)
	if err != nil {
		t.Fatal(err)
	}
	httpAddr, tlsAddr := "127.0.0.1:"+strconv.Itoa(ports[0]), "127.0.0.1:"+strconv.Itoa(ports[1])
	cmd := startServe(t, f.store, "--http", httpAddr, "--tls", tlsAddr)

	resp := waitHTTP(t, "http://"+httpAddr+"/.well-known/acme-challenge/"+tok, "www.a.test")
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || string(body) != ka {
		t.Errorf("http-01: %d %q", resp.StatusCode, body)
	}
	resp = waitHTTP(t, "http://"+httpAddr+"/.well-known/acme-challenge/"+tok, "unknown.test")
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("unknown host: %d", resp.StatusCode)
	}
	conn, err := tls.Dial("tcp", tlsAddr, &tls.Config{ServerName: "a.test", NextProtos: []string{challenge.ACMETLS1}, InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("tls-alpn-01: %v", err)
	}
	if cs := conn.ConnectionState(); cs.NegotiatedProtocol != challenge.ACMETLS1 || cs.PeerCertificates[0].Subject.CommonName != "tls-alpn-01-challenge" {
		t.Errorf("tls-alpn-01: %q %v", cs.NegotiatedProtocol, cs.PeerCertificates[0].Subject)
	}
	conn.Close()

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("serve after SIGTERM: %v; want exit 0", err)
	}
}

// TestTwoPhaseWithPebble: the challenge is put in place by "md-challenge
// setup" from a task line, and Pebble validates it through a separate
// "md-challenge serve" process: the flow of a cluster node or a host whose
// web server proxies /.well-known/acme-challenge/.
func TestTwoPhaseWithPebble(t *testing.T) {
	ca := devca.StartT(t, devca.Options{})
	f := newFixture(t)
	cmd := startServe(t, f.store, "--http", "127.0.0.1:"+strconv.Itoa(ca.HTTPPort))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	client := &acme.Client{Key: key, DirectoryURL: ca.DirectoryURL, HTTPClient: ca.HTTPClient()}
	if _, err := client.Register(ctx, &acme.Account{}, acme.AcceptTOS); err != nil {
		t.Fatal(err)
	}
	order, err := client.AuthorizeOrder(ctx, acme.DomainIDs("a.test", "www.a.test"))
	if err != nil {
		t.Fatal(err)
	}
	waitHTTP(t, "http://127.0.0.1:"+strconv.Itoa(ca.HTTPPort)+"/", "a.test").Body.Close()
	for _, u := range order.AuthzURLs {
		z, err := client.GetAuthorization(ctx, u)
		if err != nil {
			t.Fatal(err)
		}
		var chal *acme.Challenge
		for _, c := range z.Challenges {
			if c.Type == challenge.HTTP01 {
				chal = c
			}
		}
		keyAuth, _ := client.HTTP01ChallengeResponse(chal.Token)
		line, _ := json.Marshal(challenge.TaskLine{MD: "a.test", Task: challenge.Task{Type: challenge.HTTP01, Domain: z.Identifier.Value, Token: chal.Token, KeyAuth: keyAuth}})
		if r := runCmd(t, string(line)+"\n", "setup", "-d", f.store, "--tasks", "-", f.records); r.code != 0 {
			t.Fatalf("setup: %s", r.errOut)
		}
		if _, err := client.Accept(ctx, chal); err != nil {
			t.Fatal(err)
		}
		if _, err := client.WaitAuthorization(ctx, u); err != nil {
			t.Fatalf("%s: %v", z.Identifier.Value, err)
		}
	}
	if order, err = client.WaitOrder(ctx, order.URI); err != nil || order.Status != acme.StatusReady {
		t.Fatalf("order %v: %v", order.Status, err)
	}
	if r := runCmd(t, "", "teardown", "-d", f.store, f.records); r.code != 0 {
		t.Fatalf("teardown: %s", r.errOut)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("serve exit %d", ee.ExitCode())
		}
	}
}
