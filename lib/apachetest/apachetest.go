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

	t testing.TB
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
		PidFile: filepath.Join(root, "run", "httpd.pid"), LogFile: filepath.Join(root, "logs", "error_log"), t: t}
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
}

// Graceful runs "apache2 -k graceful"; a failure fails the test.
func (s *Server) Graceful() {
	s.t.Helper()
	s.ctl("graceful")
}

func (s *Server) ctl(verb string) {
	s.t.Helper()
	if out, err := s.command(verb).CombinedOutput(); err != nil {
		s.t.Fatalf("apache2 -k %s: %v\n%s", verb, err, out)
	}
}

// command is "apache2 -k verb" in the restricted environment.
func (s *Server) command(verb string) *exec.Cmd {
	cmd := exec.Command(Bin, s.Args("-k", verb)[1:]...)
	cmd.Env = env
	return cmd
}

// Stop runs "apache2 -k stop" and waits up to 5 s for the pid file to
// disappear, then kills the pid it named. If the test failed, it logs the
// tail of error_log first. It does nothing if Apache never ran.
func (s *Server) Stop() {
	if s.t.Failed() {
		s.t.Logf("apache error_log:\n%s", s.ErrorLog())
	}
	data, err := os.ReadFile(s.PidFile)
	if err != nil {
		return
	}
	_ = s.command("stop").Run()
	for i := 0; i < 100; i++ {
		if _, err := os.Stat(s.PidFile); err != nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(data))); err == nil && pid > 1 {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// ErrorLog is the last 6000 bytes of error_log.
func (s *Server) ErrorLog() string {
	b, _ := os.ReadFile(s.LogFile)
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}
