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
		// bounded, not tight: a loaded machine may take seconds to answer
		for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); {
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
	if live := groupMembers(pid); len(live) != 0 {
		t.Errorf("apache2 pid %d: processes %v still alive after Stop", pid, live)
	}
	s.Stop() // again: nothing to do
}

// TestStopWaitsForEveryProcess: Apache removes its pid file before its
// piped loggers are gone (it waits about 3 s for a logger that ignores
// SIGTERM, then kills it), and a logger's own child can outlive Apache.
// Stop returns only when no process of Apache's group is left, killing
// what does not exit by itself.
func TestStopWaitsForEveryProcess(t *testing.T) {
	s := Start(t, Options{Ports: 1, Modules: []string{"mpm_event", "authz_core"}, Config: func(s *Server) string {
		return fmt.Sprintf("ServerName localhost\nListen 127.0.0.1:%d\n"+
			// only the daemon's logger (its parent leads a process
			// group) leaves the stubborn sleep: Apache also runs the
			// logger while it reads the config before detaching
			"CustomLog \"|$read pid comm state ppid pgrp rest </proc/$PPID/stat; "+
			"if [ x$pgrp = x$PPID ]; then trap '' TERM HUP; sleep 86400 & fi; exec cat >/dev/null\" common\n", s.Ports[0])
	}})
	s.StopWait = 2 * time.Second // the stubborn sleep never exits by itself
	pid := s.pid
	t.Cleanup(func() { // without the fix the sleep would outlive the test
		if len(groupMembers(pid)) != 0 {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
		}
	})
	// the logger may start after the pid file is written: wait for its sleep
	for deadline := time.Now().Add(time.Minute); !hasSleep(pid); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the piped logger's sleep did not start; group %v", groupMembers(pid))
		}
	}
	s.Stop()
	if live := groupMembers(pid); len(live) != 0 {
		t.Errorf("apache2 pid %d: processes %v still alive after Stop", pid, live)
	}
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

// hasSleep reports whether a "sleep" process is in pid's group.
func hasSleep(pid int) bool {
	for _, p := range groupMembers(pid) {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", p)); err == nil && strings.TrimSpace(string(b)) == "sleep" {
			return true
		}
	}
	return false
}
