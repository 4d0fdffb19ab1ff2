// Package devca runs a local ACME CA for tests, the demo and benchmarks:
// Pebble and pebble-challtestsrv (Go tools pinned in go.mod), started on free
// loopback ports and stopped by PID. challtestsrv answers DNS for every name
// with 127.0.0.1, so Pebble validates challenges against responders on this
// machine; nothing leaves loopback.
package devca

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/crypto/acme"
)

// Profile is a Pebble certificate profile.
type Profile struct {
	Description    string `json:"description"`
	ValidityPeriod int64  `json:"validityPeriod"` // seconds
}

// Options configure a Pebble instance. Zero values give a CA that validates
// http-01 on HTTPPort and tls-alpn-01 on TLSPort (free ports chosen when 0),
// issues ECDSA-signed 90-day certs, and answers without artificial delays.
type Options struct {
	HTTPPort         int               // where Pebble's VA connects for http-01
	TLSPort          int               // where Pebble's VA connects for tls-alpn-01
	OCSPResponderURL string            // put into issued certs' AIA
	EABKeys          map[string]string // kid -> base64url HMAC; makes EAB required
	KeyAlgorithm     string            // "ecdsa" (default) or "rsa"
	Profiles         map[string]Profile
	RetryAfterAuthz  int
	RetryAfterOrder  int
	// AlternateRoots makes Pebble issue every certificate under 1+N
	// chains, each to its own root (PEBBLE_ALTERNATE_ROOTS): the default
	// chain to root 0, the others linked from the certificate download
	// with Link rel="alternate". 0 (the default): one chain. Set it here,
	// not in Env, so that CA.NumRoots and CA.Roots know the count.
	AlternateRoots int
	// Env adds to Pebble's environment; defaults are PEBBLE_VA_NOSLEEP=1,
	// PEBBLE_WFE_NONCEREJECT=0 and PEBBLE_AUTHZREUSE=0. Even with 0, Pebble
	// 2.10 reuses a valid authorization about 1% of the time, and it picks
	// a random profile for orders that name none (so an issued cert may be
	// the 6-day "shortlived" one): tests must not count on either.
	Env map[string]string
	// Dir holds config, certs and logs; a temp dir when empty.
	Dir string
}

// DefaultProfiles are Pebble's own: "default" (90 days) and "shortlived" (6 days).
var DefaultProfiles = map[string]Profile{
	"default":    {Description: "The profile you know and love", ValidityPeriod: 7776000},
	"shortlived": {Description: "A short-lived cert profile", ValidityPeriod: 518400},
}

// CA is a running Pebble plus challtestsrv.
type CA struct {
	DirectoryURL string // the ACME directory
	MgmtURL      string // Pebble's management API (roots, intermediate keys, ARI)
	DNSAddr      string // challtestsrv DNS (host:port)
	ChallSrvURL  string // challtestsrv management API (TXT records)
	HTTPPort     int
	TLSPort      int
	// NumRoots is how many issuing roots (chains) Pebble has: 1 +
	// Options.AlternateRoots.
	NumRoots int
	// RootsPEM is the self-signed certificate Pebble's HTTPS listeners use;
	// ACME clients must trust it (MDCACertificateFile / --ca-file).
	RootsPEM  []byte
	RootsFile string
	Dir       string
	client    *http.Client
	procs     []*proc
	logs      []string
	stopOnce  sync.Once
	issueMu   sync.Mutex
	issuer    *acme.Client
	responder http01Responder
}

// Start builds (once per process) and starts Pebble and challtestsrv. The
// ports are picked free but can be taken by another process before the
// servers bind them (parallel test packages do that); a server that dies
// while starting is therefore retried with fresh ports, up to three times.
func Start(ctx context.Context, opts Options) (*CA, error) {
	dir := opts.Dir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "devca-"); err != nil {
			return nil, err
		}
	}
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		var ca *CA
		if ca, err = startOnce(ctx, dir, opts); err == nil || !errors.Is(err, errExited) {
			return ca, err
		}
	}
	return nil, err
}

// pickPorts chooses the servers' ports; tests replace it to provoke a
// port that is already taken.
var pickPorts = FreePorts

func startOnce(ctx context.Context, dir string, opts Options) (ca *CA, err error) {
	bins, err := buildTools()
	if err != nil {
		return nil, err
	}
	ports, err := pickPorts(5)
	if err != nil {
		return nil, err
	}
	ca = &CA{Dir: dir, HTTPPort: opts.HTTPPort, TLSPort: opts.TLSPort, NumRoots: 1 + max(opts.AlternateRoots, 0)}
	if ca.HTTPPort == 0 {
		ca.HTTPPort = ports[3]
	}
	if ca.TLSPort == 0 {
		ca.TLSPort = ports[4]
	}
	started := ca // "return nil, err" sets ca to nil before this runs
	defer func() {
		if err != nil {
			started.Stop()
		}
	}()
	if err := ca.writeTLS(); err != nil {
		return nil, err
	}
	acmeAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
	mgmtAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
	ca.DNSAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[2]))
	chall, err := FreePorts(1)
	if err != nil {
		return nil, err
	}
	challMgmt := net.JoinHostPort("127.0.0.1", strconv.Itoa(chall[0]))
	ca.DirectoryURL = "https://" + acmeAddr + "/dir"
	ca.MgmtURL = "https://" + mgmtAddr
	ca.ChallSrvURL = "http://" + challMgmt

	if err := ca.spawn(bins.challtestsrv, nil, "challtestsrv.log",
		"-dnsserver", ca.DNSAddr, "-management", challMgmt,
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", "",
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""); err != nil {
		return nil, err
	}
	cfgPath := filepath.Join(dir, "pebble.json")
	if err := writePebbleConfig(cfgPath, ca, acmeAddr, mgmtAddr, opts); err != nil {
		return nil, err
	}
	env := map[string]string{"PEBBLE_VA_NOSLEEP": "1", "PEBBLE_WFE_NONCEREJECT": "0", "PEBBLE_AUTHZREUSE": "0"}
	if opts.AlternateRoots > 0 {
		env["PEBBLE_ALTERNATE_ROOTS"] = strconv.Itoa(opts.AlternateRoots)
	}
	for k, v := range opts.Env {
		env[k] = v
	}
	if err := ca.spawn(bins.pebble, env, "pebble.log", "-config", cfgPath, "-dnsserver", ca.DNSAddr); err != nil {
		return nil, err
	}
	if err := ca.waitReady(ctx); err != nil {
		return nil, err
	}
	return ca, nil
}

func writePebbleConfig(path string, ca *CA, acmeAddr, mgmtAddr string, opts Options) error {
	profiles := opts.Profiles
	if profiles == nil {
		profiles = DefaultProfiles
	}
	keyAlg := opts.KeyAlgorithm
	if keyAlg == "" {
		keyAlg = "ecdsa"
	}
	cfg := map[string]any{"pebble": map[string]any{
		"listenAddress":                  acmeAddr,
		"managementListenAddress":        mgmtAddr,
		"certificate":                    filepath.Join(ca.Dir, "tls-cert.pem"),
		"privateKey":                     filepath.Join(ca.Dir, "tls-key.pem"),
		"httpPort":                       ca.HTTPPort,
		"tlsPort":                        ca.TLSPort,
		"ocspResponderURL":               opts.OCSPResponderURL,
		"externalAccountBindingRequired": len(opts.EABKeys) > 0,
		"externalAccountMACKeys":         opts.EABKeys,
		"domainBlocklist":                []string{"blocked-domain.example"},
		"retryAfter":                     map[string]int{"authz": opts.RetryAfterAuthz, "order": opts.RetryAfterOrder},
		"keyAlgorithm":                   keyAlg,
		"profiles":                       profiles,
	}}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}

// writeTLS creates the self-signed certificate for Pebble's listeners.
func (ca *CA) writeTLS() error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: "devca local Pebble listener"},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(30 * 24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	ca.RootsPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	ca.RootsFile = filepath.Join(ca.Dir, "tls-cert.pem")
	if err := os.WriteFile(ca.RootsFile, ca.RootsPEM, 0o644); err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.RootsPEM)
	ca.client = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	return os.WriteFile(filepath.Join(ca.Dir, "tls-key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
}

// proc is a started server; done closes when it has exited.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{}
}

func (ca *CA) spawn(bin string, env map[string]string, logName string, args ...string) error {
	logPath := filepath.Join(ca.Dir, logName)
	lf, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = ca.Dir
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = os.Environ()
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	// Own process group, and killed if we die, so no server outlives a test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return fmt.Errorf("starting %s: %w", filepath.Base(bin), err)
	}
	lf.Close()
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(p.done) }()
	ca.procs = append(ca.procs, p)
	ca.logs = append(ca.logs, logPath)
	return nil
}

// errExited is a server that died while starting, typically because
// another process took one of its ports between FreePorts and its bind.
var errExited = errors.New("devca: a server exited while starting")

func (ca *CA) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := ca.client.Get(ca.DirectoryURL)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && ca.challReady() {
				return nil
			}
		}
		for _, p := range ca.procs {
			select {
			case <-p.done:
				return fmt.Errorf("%w: %s; logs:\n%s", errExited, filepath.Base(p.cmd.Path), ca.LogTail())
			default:
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("pebble did not come up at %s within 60s; logs:\n%s", ca.DirectoryURL, ca.LogTail())
}

func (ca *CA) challReady() bool {
	resp, err := http.Post(ca.ChallSrvURL+"/clear-txt", "application/json", bytes.NewReader([]byte(`{"host":"ready.test."}`)))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// logTailLines is how much of each server log a failure message shows;
// the whole log stays in its file (LogFiles).
const logTailLines = 20

// LogFiles are the servers' log files (in Dir).
func (ca *CA) LogFiles() []string { return append([]string(nil), ca.logs...) }

// LogTail returns the last lines of each server's log with the log's
// path, for failure messages: Pebble logs every request, so whole logs
// would bury the test's own message.
func (ca *CA) LogTail() string {
	var b bytes.Buffer
	for _, p := range ca.logs {
		fmt.Fprintf(&b, "== %s (last %d lines)\n%s", p, logTailLines, tailLines(p, logTailLines))
	}
	return b.String()
}

// tailLines is the last n lines of the file at path, from at most its
// last 64 KiB.
func tailLines(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error() + "\n"
	}
	defer f.Close()
	const max = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		_, _ = f.Seek(fi.Size()-max, io.SeekStart)
	}
	data, _ := io.ReadAll(io.LimitReader(f, max))
	data = bytes.TrimRight(data, "\n")
	lines := bytes.Split(data, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	if len(data) == 0 {
		return ""
	}
	return string(bytes.Join(lines, []byte("\n"))) + "\n"
}

// Stop kills the servers by PID and waits for them.
func (ca *CA) Stop() {
	ca.stopOnce.Do(func() {
		ca.responder.stop()
		for _, p := range ca.procs {
			_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGTERM)
		}
		for _, p := range ca.procs {
			select {
			case <-p.done:
			case <-time.After(5 * time.Second):
				_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
				<-p.done
			}
		}
	})
}

// HTTPClient trusts Pebble's listeners.
func (ca *CA) HTTPClient() *http.Client { return ca.client }

// IssuerRoots returns Pebble's issuing root certificates (GET /roots/0).
func (ca *CA) IssuerRoots() (*x509.CertPool, error) {
	data, err := ca.mgmtGet("/roots/0")
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, errors.New("pebble /roots/0 returned no certificate")
	}
	return pool, nil
}

// Roots returns Pebble's issuing roots, one per chain (GET /roots/0 ..
// /roots/NumRoots-1): Roots()[0] tops the default chain, the others the
// alternates. Their names ("Pebble Root CA 1a2b3c") are random per run.
func (ca *CA) Roots() ([]*x509.Certificate, error) {
	var roots []*x509.Certificate
	for i := 0; i < ca.NumRoots; i++ {
		data, err := ca.mgmtGet("/roots/" + strconv.Itoa(i))
		if err != nil {
			return nil, err
		}
		b, _ := pem.Decode(data)
		if b == nil || b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("pebble /roots/%d returned no certificate", i)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pebble /roots/%d: %w", i, err)
		}
		roots = append(roots, c)
	}
	return roots, nil
}

// IntermediateKeyPEM returns the private key of Pebble's intermediate
// (GET /intermediate-keys/0), for signing OCSP responses in tests.
func (ca *CA) IntermediateKeyPEM() ([]byte, error) { return ca.mgmtGet("/intermediate-keys/0") }

// IntermediatePEM returns Pebble's intermediate certificate.
func (ca *CA) IntermediatePEM() ([]byte, error) { return ca.mgmtGet("/intermediates/0") }

func (ca *CA) mgmtGet(path string) ([]byte, error) {
	resp, err := ca.client.Get(ca.MgmtURL + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("pebble %s: %s: %s", path, resp.Status, data)
	}
	return data, nil
}

// SetRenewalInfo sets Pebble's ARI answer for a certificate it issued
// (POST /set-renewal-info/ on the management API with the certificate PEM
// and the raw renewalInfo answer).
func (ca *CA) SetRenewalInfo(cert *x509.Certificate, start, end time.Time) error {
	ari, _ := json.Marshal(map[string]any{"suggestedWindow": map[string]string{
		"start": start.UTC().Format(time.RFC3339), "end": end.UTC().Format(time.RFC3339)}})
	body, _ := json.Marshal(map[string]string{
		"certificate": string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})),
		"ARIResponse": string(ari)})
	resp, err := ca.client.Post(ca.MgmtURL+"/set-renewal-info/", "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("pebble set-renewal-info: %s: %s", resp.Status, msg)
	}
	return nil
}

// SetTXT publishes a TXT record through challtestsrv (host is an FQDN such
// as "_acme-challenge.a.test.").
func (ca *CA) SetTXT(host, value string) error {
	return ca.challPost("/set-txt", map[string]string{"host": host, "value": value})
}

// ClearTXT removes TXT records of host.
func (ca *CA) ClearTXT(host string) error {
	return ca.challPost("/clear-txt", map[string]string{"host": host})
}

func (ca *CA) challPost(path string, v any) error {
	body, _ := json.Marshal(v)
	resp, err := http.Post(ca.ChallSrvURL+path, "application/json", bytes.NewReader(body))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("challtestsrv %s: %s", path, resp.Status)
	}
	return nil
}

// CertStatus is Pebble's record of a certificate it issued.
type CertStatus struct {
	Status    string // "Valid" or "Revoked"
	Reason    *uint  // the RFC 5280 reason code of a revocation, if one was given
	RevokedAt string
}

// CertStatus asks Pebble's management API about the certificate with the
// serial (GET /cert-status-by-serial/<hex>).
func (ca *CA) CertStatus(serial *big.Int) (CertStatus, error) {
	var cs CertStatus
	data, err := ca.mgmtGet("/cert-status-by-serial/" + serial.Text(16))
	if err != nil {
		return cs, err
	}
	if err := json.Unmarshal(data, &cs); err != nil {
		return cs, fmt.Errorf("pebble cert-status-by-serial: %w", err)
	}
	return cs, nil
}
