package challenge

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/mdtools/mdtools/lib/fsread"
	"github.com/mdtools/mdtools/lib/logger"
	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
)

// WellKnownPrefix is the http-01 URL path prefix (RFC 8555 §8.3).
const WellKnownPrefix = "/.well-known/acme-challenge/"

// webroot file and directory modes: the web server must read them.
const (
	webrootFileMode = 0o644
	webrootDirMode  = 0o755
)

func hostWebroot(rec *md.Record) string {
	if rec == nil || rec.Host == nil {
		return ""
	}
	return rec.Host.Webroot
}

// setupHTTP01 stores the key authorization as mod_md does (rewritten only
// if changed) and, with a webroot, writes the token file there.
func (m *Manager) setupHTTP01(ctx context.Context, rec *md.Record, t Task) error {
	old, err := m.st.Read(ctx, store.GroupChallenges, t.Domain, store.FileHTTP01)
	switch {
	case err == nil && string(old) == t.KeyAuth:
	case err == nil || errors.Is(err, fs.ErrNotExist):
		if err := m.st.Write(ctx, store.GroupChallenges, t.Domain, store.FileHTTP01, []byte(t.KeyAuth)); err != nil {
			return err
		}
	default:
		return err
	}
	if webroot := hostWebroot(rec); webroot != "" {
		if err := writeWebrootToken(webroot, t.Token, t.KeyAuth); err != nil {
			return err
		}
	}
	return nil
}

func webrootTokenPath(webroot, token string) (string, error) {
	if !filepath.IsAbs(webroot) {
		return "", fmt.Errorf("host.webroot %q is not an absolute path", webroot)
	}
	if err := ValidateToken(token); err != nil {
		return "", err
	}
	return filepath.Join(webroot, filepath.FromSlash(WellKnownPrefix), token), nil
}

func writeWebrootToken(webroot, token, keyAuth string) error {
	p, err := webrootTokenPath(webroot, token)
	if err != nil {
		return err
	}
	// no more than the new bytes: anything else (larger, a FIFO) differs
	if old, err := fsread.ReadFile(p, int64(len(keyAuth))); err == nil && string(old) == keyAuth {
		return nil
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, webrootDirMode); err != nil {
		return fmt.Errorf("creating webroot challenge directory: %w", err)
	}
	if err := store.WriteFileAtomic(p, []byte(keyAuth), webrootFileMode); err != nil {
		return fmt.Errorf("writing webroot challenge file: %w", err)
	}
	return nil
}

func removeWebrootToken(webroot, token string) error {
	p, err := webrootTokenPath(webroot, token)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing webroot challenge file: %w", err)
	}
	return nil
}

// HTTPHandler answers http-01 requests from the store as mod_md does: a
// request for /.well-known/acme-challenge/<token> is answered with the
// stored key authorization of the request's Host (the token in the URL is
// not compared, as in mod_md); 404 when nothing is stored for that host or
// the path is not a challenge; 501 for methods other than GET and HEAD on a
// stored challenge. log may be nil.
func HTTPHandler(st *store.Store, log logger.Logger) http.Handler {
	return httpHandler(st, nil, log)
}

// httpHandler is HTTPHandler answering from c first, when it holds the
// challenge of the request's token.
func httpHandler(st *store.Store, c *cache, log logger.Logger) http.Handler {
	log = logger.Or(log)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		name, ok := strings.CutPrefix(r.URL.Path, WellKnownPrefix)
		if !ok || name == "" || strings.Contains(name, "/") {
			http.NotFound(w, r)
			return
		}
		host := requestHost(r.Host)
		if ValidateChallengeDomain(host) != nil {
			http.NotFound(w, r)
			return
		}
		data, cached := c.httpAnswer(host, name)
		var err error
		if !cached {
			data, err = st.Read(r.Context(), store.GroupChallenges, host, store.FileHTTP01)
		}
		if err != nil {
			if !errors.Is(err, fs.ErrNotExist) {
				log.Warnf("http-01: reading challenge for %s: %v", host, err)
				http.Error(w, "challenge unavailable", http.StatusInternalServerError)
				return
			}
			log.Infof("http-01: %s %s%s: no challenge for this host", r.Method, host, r.URL.Path)
			http.NotFound(w, r)
			return
		}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not implemented", http.StatusNotImplemented)
			return
		}
		log.Infof("http-01: answered %s%s", host, r.URL.Path)
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(len(data)))
		w.WriteHeader(http.StatusOK)
		if r.Method == http.MethodGet {
			_, _ = bytes.NewReader(data).WriteTo(w)
		}
	})
}

// requestHost is the Host header without port and trailing dot, lower-cased.
func requestHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}
