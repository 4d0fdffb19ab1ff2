package apachetest

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestStartGracefulStop: the server answers on its port, survives a
// graceful restart, and Stop ends it and removes its pid file.
func TestStartGracefulStop(t *testing.T) {
	s := Start(t, Options{Ports: 1, Modules: []string{"mpm_event", "authz_core"}, Config: func(s *Server) string {
		if err := os.WriteFile(s.Root+"/index.html", []byte("hello\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprintf("ServerName localhost\nListen 127.0.0.1:%d\nDocumentRoot %q\n<Directory />\n  Require all granted\n</Directory>\n",
			s.Ports[0], s.Root)
	}})
	get := func() string {
		t.Helper()
		var last error
		for i := 0; i < 100; i++ {
			resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(s.Ports[0]) + "/index.html")
			if err == nil {
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				return string(b)
			}
			last = err
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("GET: %v", last)
		return ""
	}
	if got := get(); got != "hello\n" {
		t.Fatalf("GET: %q", got)
	}
	data, err := os.ReadFile(s.PidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatal(err)
	}
	s.Graceful()
	if got := get(); got != "hello\n" {
		t.Fatalf("GET after graceful: %q", got)
	}
	if args := s.Args("-t"); args[0] != Bin || args[len(args)-1] != "-t" {
		t.Errorf("Args: %q", args)
	}
	s.Stop()
	if _, err := os.Stat(s.PidFile); err == nil {
		t.Errorf("pid file left after Stop")
	}
	// a zombie (not reaped by its parent) still answers signal 0: check
	// /proc for a live process instead
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && !strings.Contains(string(b), ") Z ") {
		if syscall.Kill(pid, 0) == nil {
			t.Errorf("apache2 pid %d still running after Stop", pid)
		}
	}
	s.Stop() // again: nothing to do
}

// TestNewDoesNotStart: New writes the config and Args runs it, but
// nothing listens until Start.
func TestNewDoesNotStart(t *testing.T) {
	s := New(t, Options{Ports: 2, Modules: []string{"mpm_event"}, Config: func(s *Server) string {
		return fmt.Sprintf("ServerName localhost\nListen 127.0.0.1:%d\n", s.Ports[0])
	}})
	if len(s.Ports) != 2 || s.Ports[0] == s.Ports[1] {
		t.Fatalf("ports %v", s.Ports)
	}
	conf, err := os.ReadFile(s.Conf)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"ServerRoot \"" + s.Root + "\"", "PidFile \"" + s.PidFile + "\"", "LoadModule mpm_event_module " + ModulesDir + "/mod_mpm_event.so\n"} {
		if !strings.Contains(string(conf), want) {
			t.Errorf("httpd.conf lacks %q:\n%s", want, conf)
		}
	}
	if _, err := os.Stat(s.PidFile); err == nil {
		t.Errorf("pid file before Start")
	}
}
