package staple

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/httpproxy/proxytest"
	"github.com/mdtools/mdtools/lib/md"
)

// TestHTTPSProxyWithPrivateCA: md-staple asks the real responder for a
// certificate Pebble issued through a real proxy served over TLS with a
// private CA, trusted by MDHttpProxyCACertificateFile (global settings,
// as mod_md has it). Without the file the proxy is refused with an error
// naming the directive, and nothing is asked.
func TestHTTPSProxyWithPrivateCA(t *testing.T) {
	fx := pebble(t)
	p := proxytest.Start(t)
	st := newStore(t)
	clk := &clock{t: time.Now()}
	r := &Runner{Store: st, Now: clk.Now, Log: &testLog{}, Notifier: (&events{}).notifier}

	refused := fx.install(t, st, "nopxca.test", "good.test")
	refused.Settings = &md.Settings{HTTPProxy: p.URL}
	before := fx.responder.Requests.Load()
	if err := r.Run(context.Background(), r.SetsFromRecords(t.Context(), []*md.Record{refused})); err != nil {
		t.Fatal(err)
	}
	if refused.Error == nil || !strings.Contains(refused.Error.Detail, "MDHttpProxyCACertificateFile") {
		t.Errorf("without the proxy's CA: error %v; want one naming MDHttpProxyCACertificateFile", refused.Error)
	}
	if n := fx.responder.Requests.Load() - before; n != 0 || p.Forwards.Load() != 0 {
		t.Errorf("refused proxy: %d requests reached the responder, %d forwarded", n, p.Forwards.Load())
	}

	rec := fx.install(t, st, "hpx.test", "good.test")
	rec.Settings = &md.Settings{HTTPProxy: p.URL, ProxyCACerts: p.CAFile}
	if err := r.Run(context.Background(), r.SetsFromRecords(t.Context(), []*md.Record{rec})); err != nil {
		t.Fatal(err)
	}
	if rec.Error != nil {
		t.Fatalf("through the proxy: %v", rec.Error)
	}
	if e := entry(t, rec, "rsa"); e.Status != StatusGood || e.Action != "fetched" {
		t.Errorf("entry %+v; want a fetched good response", e)
	}
	if p.Forwards.Load() == 0 {
		t.Errorf("the responder was not reached through the proxy")
	}
}
