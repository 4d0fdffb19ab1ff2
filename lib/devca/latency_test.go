package devca

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"
)

// An echo through the proxy arrives whole and in order, and a round trip
// takes at least twice the one-way delay (sleeps give a lower bound, so
// this cannot flake on a slow machine).
func TestLatencyProxy(t *testing.T) {
	ln := serveTCP(t, func(c net.Conn) { _, _ = io.Copy(c, c) })
	p, err := StartLatencyProxy(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	const oneWay = 40 * time.Millisecond
	p.SetDelay(oneWay)
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := make([]byte, 300<<10)
	_, _ = rand.Read(msg)
	start := time.Now()
	go func() { _, _ = c.Write(msg) }()
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 2*oneWay {
		t.Errorf("round trip took %v; want at least %v", el, 2*oneWay)
	}
	if !bytes.Equal(got, msg) {
		t.Error("the echo differs from what was sent")
	}
}

// Close ends connections still open, and a second Close does no harm.
func TestLatencyProxyClose(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	ln := serveTCP(t, func(net.Conn) { <-hold }) // held open until the test ends
	p, err := StartLatencyProxy(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c, err := net.Dial("tcp", p.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	p.Close()
	p.Close()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err = c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); err == nil || ok && ne.Timeout() {
		t.Errorf("a connection is still open after Close (read: %v)", err)
	}
}

// serveTCP runs handle for each connection to a loopback listener, which
// is closed when the test ends; each connection is closed after handle.
func serveTCP(t *testing.T, handle func(net.Conn)) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); handle(c) }()
		}
	}()
	return ln
}
