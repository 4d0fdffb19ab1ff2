// Package apachetest runs a real Debian Apache httpd (/usr/sbin/apache2)
// for tests: its own ServerRoot in a temporary directory, free loopback
// ports, and a config the test writes. No system file is touched.
//
// The helper writes only the plumbing at the top of httpd.conf (ServerRoot,
// run and log files, mutexes, the worker user when running as root, and
// the LoadModule lines); everything else (Listen, vhosts, MD* directives)
// is the test's own text. Stop is registered with t.Cleanup before Apache
// can start, so a server that reported a failed start is still stopped.
package apachetest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/devca"
)

const (
	// Bin is Debian's Apache httpd.
	Bin = "/usr/sbin/apache2"
	// ModulesDir holds Debian's Apache modules (mod_md included).
	ModulesDir = "/usr/lib/apache2/modules"
	// User is the worker user and group when the test runs as root.
	User = "www-data"
)

// env is the environment of the apache2 -k commands: nothing of the
// test's own (no APACHE_* variables from a login shell).
var env = []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C"}

// Options describe the server to write.
type Options struct {
	// Modules are loaded in this order, by short name: "ssl" loads
	// ssl_module from ModulesDir/mod_ssl.so.
	Modules []string
	// Ports is how many free 127.0.0.1 ports to pick into Server.Ports.
	Ports int
	// Config returns the rest of httpd.conf, after the helper's lines.
	Config func(s *Server) string
}

// Server is one Apache httpd with its ServerRoot.
type Server struct {
	Root    string // ServerRoot, 0755 up to the temp dir so the workers reach it
	Conf    string // Root/httpd.conf
	PidFile string // Root/run/httpd.pid
	LogFile string // Root/logs/error_log
	Ports   []int  // Options.Ports free loopback ports
	// StopWait bounds how long Stop waits for Apache to exit by itself
	// before it kills the process group (DefaultStopWait).
	StopWait time.Duration

	t   testing.TB
	pid int // the daemon's pid from Start, until Stop
}

// New writes the ServerRoot and httpd.conf, and registers Stop with
// t.Cleanup; it does not start Apache (Start does, or a reload command
// built with Args, such as "-k graceful").
func New(t testing.TB, opts Options) *Server {
	t.Helper()
	if _, err := os.Stat(Bin); err != nil {
		t.Fatalf("Debian apache2 is needed (scripts/test-deps installs it): %v", err)
	}
	root := t.TempDir()
	for d := root; d != "/" && d != os.TempDir(); d = filepath.Dir(d) {
		_ = os.Chmod(d, 0o755)
	}
	for _, d := range []string{"logs", "run"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := &Server{Root: root, Conf: filepath.Join(root, "httpd.conf"),
		PidFile: filepath.Join(root, "run", "httpd.pid"), LogFile: filepath.Join(root, "logs", "error_log"),
		StopWait: DefaultStopWait, t: t}
	if opts.Ports > 0 {
		ports, err := devca.FreePorts(opts.Ports)
		if err != nil {
			t.Fatal(err)
		}
		s.Ports = ports
	}
	var b strings.Builder
	fmt.Fprintf(&b, "ServerRoot %q\nDefaultRuntimeDir %q\nPidFile %q\nMutex file:%s default\nErrorLog %q\n",
		root, filepath.Join(root, "run"), s.PidFile, filepath.Join(root, "run"), s.LogFile)
	if os.Geteuid() == 0 {
		fmt.Fprintf(&b, "User %s\nGroup %s\n", User, User)
	}
	for _, m := range opts.Modules {
		fmt.Fprintf(&b, "LoadModule %s_module %s/mod_%s.so\n", m, ModulesDir, m)
	}
	if opts.Config != nil {
		b.WriteString(opts.Config(s))
	}
	if err := os.WriteFile(s.Conf, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Start is New followed by (*Server).Start.
func Start(t testing.TB, opts Options) *Server {
	t.Helper()
	s := New(t, opts)
	s.Start()
	return s
}

// Args is the apache2 command line for this server with extra arguments,
// as a reload command: Args("-k", "graceful").
func (s *Server) Args(extra ...string) []string {
	return append([]string{Bin, "-d", s.Root, "-f", s.Conf}, extra...)
}

// Start runs "apache2 -k start"; a failure fails the test.
func (s *Server) Start() {
	s.t.Helper()
	s.ctl("start")
	// "-k start" returns when the daemon has detached, before it writes
	// its pid file; Stop needs the pid, so wait for it (bounded).
	deadline := time.Now().Add(startWait)
	for s.pid = s.readPid(); s.pid == 0; s.pid = s.readPid() {
		if time.Now().After(deadline) {
			s.t.Fatalf("apache2 -k start: no pid in %s after %v; error_log:\n%s", s.PidFile, startWait, s.ErrorLog())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startWait bounds the wait for the pid file of a started Apache.
const startWait = 60 * time.Second

// readPid is the pid in PidFile, or 0.
func (s *Server) readPid() int {
	data, err := os.ReadFile(s.PidFile)
	if err != nil {
		return 0
	}
	if p, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && p > 1 {
		return p
	}
	return 0
}

// Graceful runs "apache2 -k graceful"; a failure fails the test.
func (s *Server) Graceful() {
	s.t.Helper()
	s.ctl("graceful")
}

func (s *Server) ctl(verb string) {
	s.t.Helper()
	// Output goes to a file, not a pipe: a process Apache starts (a piped
	// logger) inherits the pipe and would keep CombinedOutput waiting.
	out, err := os.CreateTemp(s.Root, "ctl-*.out")
	if err != nil {
		s.t.Fatal(err)
	}
	defer os.Remove(out.Name())
	defer out.Close()
	cmd := s.command(verb)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Run(); err != nil {
		b, _ := os.ReadFile(out.Name())
		s.t.Fatalf("apache2 -k %s: %v\n%s", verb, err, b)
	}
}

// command is "apache2 -k verb" in the restricted environment.
func (s *Server) command(verb string) *exec.Cmd {
	cmd := exec.Command(Bin, s.Args("-k", verb)[1:]...)
	cmd.Env = env
	return cmd
}

// Stop runs "apache2 -k stop" and returns once Apache and every process
// it started are gone. Apache removes its pid file before it has finished
// exiting (module cleanups, piped loggers), so Stop waits for the
// processes themselves: the daemon is a session leader and its workers and
// loggers share its process group. If they are not gone after StopWait,
// the group is killed. It does nothing if Apache never ran. If the test
// failed, it logs the tail of error_log first.
func (s *Server) Stop() {
	if s.t.Failed() {
		s.t.Logf("apache error_log (%s):\n%s", s.LogFile, s.ErrorLog())
	}
	pid, fromFile := s.readPid(), true
	if pid == 0 {
		pid, fromFile = s.pid, false // a pid file removed, but maybe not yet exited
	}
	s.pid = 0 // a later Stop must not signal a reused pid
	if pid == 0 || len(groupMembers(pid)) == 0 {
		return
	}
	if fromFile {
		_ = s.command("stop").Run()
	} else {
		_ = syscall.Kill(pid, syscall.SIGTERM) // "-k stop" needs the pid file
	}
	if waitGroupGone(pid, s.StopWait) {
		return
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL)
	_ = syscall.Kill(pid, syscall.SIGKILL)
	if !waitGroupGone(pid, killWait) {
		s.t.Errorf("apache2 (pid %d) or a process of its group is still alive after SIGKILL: %v", pid, groupMembers(pid))
	}
}

// DefaultStopWait is how long Stop lets Apache shut down by itself. Its
// own escalation to SIGKILL for workers and piped loggers takes about 3 s.
const DefaultStopWait = 20 * time.Second

// killWait bounds the wait for processes to vanish after SIGKILL.
const killWait = 20 * time.Second

// waitGroupGone polls /proc until no live process (zombies do not count:
// their parent, maybe a PID 1 that never reaps, decides when they go)
// has pid or belongs to its process group; false after d.
func waitGroupGone(pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if len(groupMembers(pid)) == 0 {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// groupMembers are the live (not zombie) processes that are pid or in
// process group pid.
func groupMembers(pid int) []int {
	entries, _ := os.ReadDir("/proc")
	var live []int
	for _, e := range entries {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		state, pgrp, ok := procStat(p)
		if ok && state != "Z" && state != "X" && (p == pid || pgrp == pid) {
			live = append(live, p)
		}
	}
	return live
}

// procStat reads the state and process group of a process from
// /proc/<pid>/stat ("pid (comm) state ppid pgrp ..."; comm may hold
// spaces and parentheses, so fields are counted after the last ')').
func procStat(pid int) (state string, pgrp int, ok bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", 0, false
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return "", 0, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 3 {
		return "", 0, false
	}
	pgrp, err = strconv.Atoi(f[2])
	return f[0], pgrp, err == nil
}

// ErrorLog is the last 6000 bytes of error_log.
func (s *Server) ErrorLog() string {
	b, _ := os.ReadFile(s.LogFile)
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}
