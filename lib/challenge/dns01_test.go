package challenge

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/devca"
	"github.com/mdtools/mdtools/lib/md"
	"golang.org/x/crypto/acme"
)

func testdataPath(t *testing.T, elem ...string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join(append([]string{"..", "..", "testdata"}, elem...)...))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func readLines(t *testing.T, p string) []string {
	t.Helper()
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

func TestDNS01Value(t *testing.T) {
	// RFC 8555 §8.4: base64url(SHA-256(keyAuthorization)), as x/crypto's DNS01ChallengeRecord.
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	c := &acme.Client{Key: key}
	ka, _ := c.HTTP01ChallengeResponse(testToken)
	want, _ := c.DNS01ChallengeRecord(testToken)
	if got := DNS01Value(ka); got != want {
		t.Fatalf("got %q; want %q", got, want)
	}
	if err := ValidateKeyAuth(testToken, ka); err != nil {
		t.Fatalf("x/crypto key authorization rejected: %v", err)
	}
}

func TestDNS01Command(t *testing.T) {
	rec := testRecord("a.test")
	if DNS01Command(rec) != nil || DNS01Version(rec) != 1 {
		t.Fatal("record without a command")
	}
	rec.CmdDNS01 = `  "/opt/my hooks/dns" --zone 'a test' `
	if got := DNS01Command(rec); strings.Join(got, "|") != "/opt/my hooks/dns|--zone|a test" {
		t.Fatalf("got %q", got)
	}
	rec.Settings = &md.Settings{DNS01Version: 2, DNS01Cmd: []string{"/global/hook", "x y"}}
	if DNS01Version(rec) != 2 {
		t.Fatal("version 2 not seen")
	}
	if got := DNS01Command(rec); got[0] != "/opt/my hooks/dns" {
		t.Fatalf("the MD's own command must win over the global one: %q", got)
	}
	rec.CmdDNS01 = ""
	if got := DNS01Command(rec); strings.Join(got, "|") != "/global/hook|x y" {
		t.Fatalf("global command: got %q", got)
	}
	if c, _ := Candidates(rec); strings.Join(c, " ") != "http-01 dns-01" {
		t.Fatalf("candidates with a global dns-01 command: %v", c)
	}
}

// TestDNS01Commands runs a hook that records its argv: setup and both
// teardown versions, failures and a hook that hangs.
func TestDNS01Commands(t *testing.T) {
	st, _ := openStore(t)
	logf := filepath.Join(t.TempDir(), "argv")
	record := testdataPath(t, "event", "record-argv")
	m := newManager(t, st, Options{CommandTimeout: 500 * time.Millisecond})
	ctx := context.Background()
	task := Task{Type: DNS01, Domain: "a.test", Token: testToken, KeyAuth: testKeyAuth}
	val := DNS01Value(testKeyAuth)

	rec := testRecord("a.test", "*.a.test")
	rec.CmdDNS01 = record + " " + logf + " 'with space'"
	if err := m.Setup(ctx, rec, task); err != nil {
		t.Fatal(err)
	}
	if err := m.Teardown(ctx, rec, task); err != nil {
		t.Fatal(err)
	}
	rec.Settings = &md.Settings{DNS01Version: 2}
	if err := m.Teardown(ctx, rec, task); err != nil {
		t.Fatal(err)
	}
	want := []string{
		fmt.Sprintf("[%s][%s][with space][setup][a.test][%s] stdin-eof", record, logf, val),
		fmt.Sprintf("[%s][%s][with space][teardown][a.test] stdin-eof", record, logf),
		fmt.Sprintf("[%s][%s][with space][teardown][a.test][%s] stdin-eof", record, logf, val),
	}
	if got := readLines(t, logf); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("argv:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if err := m.Teardown(ctx, rec, Task{Type: DNS01, Domain: "a.test"}); err == nil {
		t.Error("version 2 teardown without the key authorization succeeded")
	}

	tests := []struct {
		name, cmd, want string
		notApplicable   bool
	}{
		{"no command", "", "no dns-01 command", true},
		{"blank command", "  ", "no dns-01 command", true},
		{"nonzero exit", testdataPath(t, "event", "fail") + " 7", "exit code 7", false},
		{"nonexistent command", "/nonexistent/dns01.py", "starting /nonexistent/dns01.py", false},
		{"hook hangs", testdataPath(t, "event", "hang") + " " + filepath.Join(t.TempDir(), "x"), "timed out after 500ms", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := testRecord("a.test")
			r.CmdDNS01 = tc.cmd
			err := m.Setup(ctx, r, task)
			if err == nil || !strings.Contains(err.Error(), tc.want) || errors.Is(err, ErrNotApplicable) != tc.notApplicable {
				t.Fatalf("got %v; want %q (not applicable: %v)", err, tc.want, tc.notApplicable)
			}
		})
	}
}

// TestDNS01WildcardWithPebble obtains a wildcard certificate through the
// testdata hook, which publishes TXT records in challtestsrv's DNS, with
// MDChallengeDns01Version 1 and 2.
func TestDNS01WildcardWithPebble(t *testing.T) {
	env := newACME(t, devca.Options{})
	t.Setenv("MD_CHALLTESTSRV", strings.TrimPrefix(env.ca.ChallSrvURL, "http://"))
	logf := filepath.Join(t.TempDir(), "hook.log")
	t.Setenv("MD_DNS01_HOOK_LOG", logf)
	st, _ := openStore(t)
	m := newManager(t, st, Options{})
	hook := testdataPath(t, "challenge", "dns01-hook")

	for _, version := range []int{1, 2} {
		name := fmt.Sprintf("wild%d.test", version)
		rec := testRecord(name, "*."+name, "www."+name)
		rec.CmdDNS01 = hook
		rec.Settings = &md.Settings{DNS01Version: version, Reachable: &md.Reachable{}}
		var tokens []string
		chain, err := env.issue(t, m, rec, func(phase string, task Task) {
			if phase == "setup" {
				tokens = append(tokens, DNS01Value(task.KeyAuth))
			}
		})
		if err != nil {
			t.Fatalf("version %d: %v", version, err)
		}
		requireCovers(t, chain, name, "*."+name)
		if len(tokens) != 2 {
			t.Fatalf("version %d: %d setups; want 2 (%s and *.%s)", version, len(tokens), name, name)
		}
	}
	got := strings.Join(readLines(t, logf), "\n")
	for _, want := range []string{"setup wild1.test ", "teardown wild1.test\n", "setup wild2.test ", "teardown wild2.test "} {
		if !strings.Contains(got+"\n", want) {
			t.Errorf("hook log lacks %q:\n%s", want, got)
		}
	}
	if strings.Count(got, "setup wild1.test ") != 2 || strings.Count(got, "teardown") != 4 {
		t.Errorf("hook log:\n%s", got)
	}
}

// TestWildcardWithoutDNSCommandIsMismatch: the CA offers only dns-01 for a
// wildcard; without a command this is challenge-mismatch (test_720_001).
func TestWildcardWithoutDNSCommandIsMismatch(t *testing.T) {
	env := newACME(t, devca.Options{})
	st, _ := openStore(t)
	m := newManager(t, st, Options{HTTPListen: env.httpAddr()})
	_, err := env.issue(t, m, testRecord("nodns.test", "*.nodns.test"), nil)
	var se *md.StageError
	if !errors.As(err, &se) || se.Problem != ProblemMismatch {
		t.Fatalf("got %v; want challenge-mismatch", err)
	}
	if !strings.Contains(se.Detail, "for domain nodns.test are supported. The server offered '") || !strings.Contains(se.Detail, "dns-01") || !strings.HasSuffix(se.Detail, "and available are: 'http-01'.") {
		t.Errorf("detail %q", se.Detail)
	}
}

// TestDNS01CommandMissingIsSetupFailure: a dns-01 command that cannot run
// is challenge-setup-failure (test_720: nonexistent command).
func TestDNS01CommandMissingIsSetupFailure(t *testing.T) {
	env := newACME(t, devca.Options{})
	st, _ := openStore(t)
	m := newManager(t, st, Options{})
	rec := testRecord("baddns.test", "*.baddns.test")
	rec.CmdDNS01 = "/nonexistent/dns01.py"
	rec.Settings = &md.Settings{Reachable: &md.Reachable{}} // dns-01 is the only candidate
	_, err := env.issue(t, m, rec, nil)
	var se *md.StageError
	if !errors.As(err, &se) || se.Problem != ProblemSetupFailure || !strings.Contains(se.Detail, "/nonexistent/dns01.py") {
		t.Fatalf("got %v; want challenge-setup-failure naming the command", err)
	}
}

// An interrupted or timed-out order still removes its dns-01 record: the
// teardown command runs even when the caller's context is already done.
func TestDNS01TeardownAfterCancel(t *testing.T) {
	st, _ := openStore(t)
	logf := filepath.Join(t.TempDir(), "argv")
	record := testdataPath(t, "event", "record-argv")
	m := newManager(t, st, Options{CommandTimeout: 5 * time.Second})
	task := Task{Type: DNS01, Domain: "a.test", Token: testToken, KeyAuth: testKeyAuth}
	rec := testRecord("a.test")
	rec.CmdDNS01 = record + " " + logf
	if err := m.Setup(context.Background(), rec, task); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := m.Teardown(ctx, rec, task); err != nil {
		t.Fatalf("teardown after cancel: %v", err)
	}
	want := fmt.Sprintf("[%s][%s][teardown][a.test] stdin-eof", record, logf)
	if got := readLines(t, logf); len(got) != 2 || got[1] != want {
		t.Fatalf("argv: %q; want the teardown line %q", got, want)
	}
}
