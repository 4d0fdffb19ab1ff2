package status

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// Handler serves the status views over HTTP, read-only, reading the store
// on every request (only the MD asked for, where one is named):
//
//	/md-status                    mod_md's md-status list (JSON)
//	/md-status/<name>             one MD with its job log (by MD name or domain);
//	                              the list when no MD has that name, as mod_md
//	/.httpd/certificate-status    mod_md's certificate-status for the Host header
//	/metrics                      Prometheus text format
//	/server-status?auto           mod_md's server-status lines
//	/                             the HTML page
//
// Like mod_md it answers 501 to anything but GET (and HEAD).
type Handler struct {
	Reader *Reader
	Opts   Options

	mu      sync.Mutex
	index   map[string]string // domain -> MD name, for names that are not MD names
	indexAt time.Time
}

// indexMaxAge bounds how often a lookup by domain that misses the index
// rescans every md.json (a stream of unknown Host headers must not make
// each request read the whole store).
const indexMaxAge = 10 * time.Second

// find is Reader.Find with a domain index: an MD name is a direct hit; a
// domain is looked up in the index and verified against that MD's md.json;
// the index is rebuilt at most every indexMaxAge.
func (h *Handler) find(ctx context.Context, name string) (string, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if md.ValidateDomain(name) != nil {
		return "", &UnknownError{Name: name}
	}
	r := h.Reader
	if r.Store.Exists(ctx, store.GroupDomains, name, store.FileMD) {
		return name, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if mdName, ok := h.index[name]; ok {
		if m, err := r.Store.LoadMD(ctx, store.GroupDomains, mdName); err == nil && containsFold(m.Domains, name) {
			return mdName, nil
		}
	}
	if h.index != nil && time.Since(h.indexAt) < indexMaxAge {
		return "", &UnknownError{Name: name}
	}
	names, err := r.Names(ctx)
	if err != nil {
		return "", err
	}
	idx := map[string]string{}
	for _, n := range names {
		m, err := r.Store.LoadMD(ctx, store.GroupDomains, n)
		if err != nil {
			continue
		}
		for _, d := range m.Domains {
			d = strings.ToLower(d)
			if _, dup := idx[d]; !dup {
				idx[d] = n
			}
		}
	}
	h.index, h.indexAt = idx, time.Now()
	if mdName, ok := idx[name]; ok {
		return mdName, nil
	}
	return "", &UnknownError{Name: name}
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if req.Method != http.MethodGet && req.Method != http.MethodHead {
		http.Error(w, "md-status supports only GET", http.StatusNotImplemented)
		return
	}
	p := req.URL.Path
	ctx := req.Context()
	var (
		buf   bytes.Buffer
		ctype = "application/json"
		err   error
	)
	switch {
	case p == "/md-status" || p == "/md-status/":
		err = h.Reader.Render(ctx, &buf, ViewJSON, nil, h.Opts)
	case strings.HasPrefix(p, "/md-status/"):
		name := p[strings.LastIndexByte(p, '/')+1:]
		if err = h.one(ctx, &buf, name, false); errors.Is(err, ErrUnknown) {
			// mod_md's md-status handler: no MD of that name or domain,
			// the whole list (200)
			buf.Reset()
			err = h.Reader.Render(ctx, &buf, ViewJSON, nil, h.Opts)
		}
	case p == "/.httpd/certificate-status":
		host := req.Host
		if hh, _, e := net.SplitHostPort(host); e == nil {
			host = hh
		}
		err = h.one(ctx, &buf, host, true)
	case p == "/metrics":
		ctype = "text/plain; version=0.0.4; charset=utf-8"
		err = h.Reader.Render(ctx, &buf, ViewMetrics, nil, h.Opts)
	case p == "/server-status":
		ctype = "text/plain; charset=utf-8"
		err = h.Reader.Render(ctx, &buf, ViewServerStatus, nil, h.Opts)
	case p == "/" || p == "/index.html":
		ctype = "text/html; charset=utf-8"
		err = h.Reader.Render(ctx, &buf, ViewHTML, nil, h.Opts)
	default:
		http.NotFound(w, req)
		return
	}
	var bad *BadStoreError
	switch {
	case errors.Is(err, ErrUnknown):
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	case err != nil && !errors.As(err, &bad):
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", ctype)
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(buf.Bytes())
}

func (h *Handler) one(ctx context.Context, buf *bytes.Buffer, name string, certStatus bool) error {
	mdName, err := h.find(ctx, name)
	if err != nil {
		return err
	}
	rep, err := h.Reader.Load(ctx, mdName)
	if err != nil {
		return err
	}
	doc := rep.JSON(true)
	if certStatus {
		doc = rep.CertificateStatusJSON()
	}
	b, err := Indent(doc)
	if err != nil {
		return err
	}
	buf.Write(b)
	return nil
}

// Serve answers on addr until ctx ends.
func Serve(ctx context.Context, addr string, h *Handler, ready func(net.Addr)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second, WriteTimeout: 60 * time.Second}
	if ready != nil {
		ready(ln.Addr())
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
		return nil
	case err := <-errc:
		return err
	}
}
