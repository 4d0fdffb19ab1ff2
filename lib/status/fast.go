package status

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"sync"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/renew"
	"github.com/mdtools/mdtools/lib/store"
)

// Reading many MDs fast: md.json through store.LoadMD (md.DecodeMD's
// one-pass rule), job.json in one pass into a plain struct (md's own
// decoder takes two passes to name bad fields; it is used only to describe
// a file that fails here), and intermediate certificates, shared by many
// MDs, are parsed once.

// plainJob is md.Job without its JSON methods; the log is decoded only
// when asked for.
type plainJob struct {
	Name            string          `json:"name"`
	Finished        bool            `json:"finished"`
	Notified        bool            `json:"notified"`
	NotifiedRenewed bool            `json:"notified-renewed"`
	NextRun         md.Time         `json:"next-run"`
	LastRun         md.Time         `json:"last-run"`
	ValidFrom       md.Time         `json:"valid-from"`
	Errors          int             `json:"errors"`
	Last            *md.JobResult   `json:"last"`
	Log             json.RawMessage `json:"log"`
	// Certs is md-staple's per-certificate backoff in ocsp/<md>/job.json
	// (read with ocspfile.RetryState), kept in Job.Extra.
	Certs json.RawMessage `json:"certs"`
}

// plainToJob is the job's head.
func plainToJob(p *plainJob) md.Job {
	return md.Job{Name: p.Name, Finished: p.Finished, Notified: p.Notified, NotifiedRenewed: p.NotifiedRenewed,
		NextRun: p.NextRun, LastRun: p.LastRun, ValidFrom: p.ValidFrom, Errors: p.Errors, Last: p.Last}
}

// decodeJobRef decodes a job.json; withRaw keeps it in key order for
// output (Job.Raw), withLog decodes the log entries. It is the reference
// of decodeJob (jobscan.go).
func decodeJobRef(data []byte, withLog, withRaw bool) (*Job, error) {
	var p plainJob
	if err := json.Unmarshal(data, &p); err != nil {
		var j md.Job // for a message naming the field
		if err2 := json.Unmarshal(data, &j); err2 != nil {
			return nil, err2
		}
		return nil, err
	}
	j := &Job{Job: plainToJob(&p)}
	if len(p.Certs) > 0 {
		j.Extra = map[string]json.RawMessage{"certs": p.Certs}
	}
	if withLog && len(p.Log) > 0 && !bytes.Equal(p.Log, []byte("null")) {
		if err := json.Unmarshal(p.Log, &j.Log); err != nil {
			return nil, &md.FieldError{Field: "log", Err: err}
		}
	}
	if withRaw {
		raw, err := ParseObject(data)
		if err != nil {
			return nil, err
		}
		j.Raw = raw
	}
	return j, nil
}

// checkObject fails as ParseObject does on a job.json that decoded: the
// only valid JSON a job decodes from that is not an object is null.
func checkObject(data []byte) error {
	if bytes.Equal(bytes.TrimSpace(data), []byte("null")) {
		return errors.New("want a JSON object")
	}
	return nil
}

// intermediates remembers DER certificates that parsed, shared by all
// readers: a store of thousands of MDs has a handful of intermediates.
var intermediates sync.Map // string(DER) -> struct{}

// parseChain is store.ParseChainPEM, parsing certificates after the leaf
// only once per process.
func parseChain(data []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	var leaf *x509.Certificate
	var tail []byte // what follows the leaf
	n := 0
	rest := data
	for {
		var block *pem.Block
		if n == 0 {
			block, rest = decodeFirstPEM(rest)
		} else {
			block, rest = pem.Decode(rest)
		}
		if block == nil {
			break
		}
		n++
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is %q, want CERTIFICATE", n, block.Type)
		}
		if n == 1 {
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("certificate %d: %w", n, err)
			}
			leaf = c
			chain = append(chain, c)
			if k, ok := chainTails.get(rest); ok {
				return append(chain, make([]*x509.Certificate, k)...), nil
			}
			tail = rest
			continue
		}
		if _, ok := intermediates.Load(string(block.Bytes)); !ok {
			if _, err := x509.ParseCertificate(block.Bytes); err != nil {
				return nil, fmt.Errorf("certificate %d: %w", n, err)
			}
			intermediates.Store(string(block.Bytes), struct{}{})
		}
		chain = append(chain, nil) // present and valid; not needed parsed
	}
	if leaf == nil {
		return nil, errors.New("no PEM certificate found")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("trailing data after the last certificate (truncated or corrupted PEM)")
	}
	chainTails.put(tail, len(chain)-1)
	return chain, nil
}

var (
	pemCertBegin = []byte("-----BEGIN CERTIFICATE-----\n")
	pemCertEnd   = []byte("-----END CERTIFICATE-----")
)

// decodePEMCert is pem.Decode for a file that starts with a certificate
// block as the store writes it: the BEGIN line, lines of base64, the END
// line; ok is false for anything else (then pem.Decode decides;
// FuzzDecodePEMCert). It skips pem.Decode's searching and copying.
func decodePEMCert(data []byte) (der, rest []byte, ok bool) {
	if !bytes.HasPrefix(data, pemCertBegin) {
		return nil, nil, false
	}
	body := data[len(pemCertBegin):]
	i := 0
	for i < len(body) && isBase64OrNewline(body[i]) {
		i++
	}
	if i == 0 || body[i-1] != '\n' || !bytes.HasPrefix(body[i:], pemCertEnd) {
		return nil, nil, false
	}
	switch after := body[i+len(pemCertEnd):]; {
	case len(after) == 0:
		rest = after
	case after[0] == '\n':
		rest = after[1:]
	default:
		return nil, nil, false
	}
	der = make([]byte, base64.StdEncoding.DecodedLen(i))
	n, err := base64.StdEncoding.Decode(der, body[:i])
	if err != nil {
		return nil, nil, false
	}
	return der[:n], rest, true
}

// decodeFirstPEM is pem.Decode, through decodePEMCert when it can.
func decodeFirstPEM(data []byte) (*pem.Block, []byte) {
	if der, rest, ok := decodePEMCert(data); ok {
		return &pem.Block{Type: "CERTIFICATE", Bytes: der}, rest
	}
	return pem.Decode(data)
}

func isBase64OrNewline(c byte) bool {
	return 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '+' || c == '/' || c == '=' || c == '\n'
}

// chainTails remembers the text after the leaf of chains that parsed
// (the intermediates' PEM, the same for the MDs of one CA) and how many
// certificates it holds: parseChain's result for that text, without
// decoding it again.
var chainTails sharedCache[int]

// sharedCache remembers a few values that many MDs share, by the bytes
// they are computed from; it keeps at most 64, so that odd stores cannot
// fill memory with it.
type sharedCache[V any] struct {
	mu sync.Mutex
	m  map[string]V
}

func (c *sharedCache[V]) get(key []byte) (V, bool) {
	c.mu.Lock()
	v, ok := c.m[string(key)]
	c.mu.Unlock()
	return v, ok
}

func (c *sharedCache[V]) put(key []byte, v V) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]V{}
	}
	if len(c.m) < 64 {
		c.m[string(key)] = v
	}
	c.mu.Unlock()
}

// quickJobRef reads only the top-level fields before "log" of a job.json
// (mod_md writes the log last), for the table's "renewed ... ago" without
// scanning the log. Fields after the log are not seen. It is the
// reference of quickJob (jobscan.go).
func quickJobRef(data []byte) (*Job, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, errors.New("want a JSON object")
	}
	j := &Job{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, err
		}
		key, _ := t.(string)
		if key == "log" {
			return j, nil
		}
		dst := j.headField(key)
		if dst == nil {
			dst = new(json.RawMessage)
		}
		if err := dec.Decode(dst); err != nil {
			return nil, &md.FieldError{Field: key, Err: err}
		}
	}
	return j, nil
}

// headField is where the job.json member key goes when it is read before
// the log (nil: a member not read; "log" ends the head).
func (j *Job) headField(key string) any {
	switch key {
	case "name":
		return &j.Name
	case "finished":
		return &j.Finished
	case "notified-renewed":
		return &j.NotifiedRenewed
	case "last-run":
		return &j.LastRun
	case "valid-from":
		return &j.ValidFrom
	case "errors":
		return &j.Errors
	}
	return nil
}

// ariCache is md-order's record of the CA's ARI answers for an MD's
// certificates (store root, ari-<md>.json), keyed by RFC 9773 certificate
// id.
type ariCache struct {
	Entries map[string]struct {
		Start       md.Time `json:"start"`
		End         md.Time `json:"end"`
		Explanation string  `json:"explanation-url"`
	} `json:"entries"`
}

// rfcCertID is the RFC 9773 id: like ARICertID, but the serial as its DER
// INTEGER content (a 0x00 before a high bit), which md-order uses.
func rfcCertID(ci *CertInfo) string {
	c := ci.Cert
	if len(c.AuthorityKeyId) == 0 || c.SerialNumber == nil || c.SerialNumber.Sign() <= 0 {
		return ""
	}
	ser := c.SerialNumber.Bytes()
	if ser[0] >= 0x80 {
		ser = append([]byte{0}, ser...)
	}
	return base64.RawURLEncoding.EncodeToString(c.AuthorityKeyId) + "." + base64.RawURLEncoding.EncodeToString(ser)
}

// loadARI returns the earliest ARI window md-order recorded for the
// installed certificates, if any.
func (r *Reader) loadARI(ctx context.Context, name string, certs []Cert) *renew.Window {
	if !r.hasRoot(store.ARIFile(name)) {
		return nil
	}
	data, err := r.Store.Read(ctx, store.GroupRoot, "", store.ARIFile(name))
	if err != nil {
		return nil
	}
	var cache ariCache
	if json.Unmarshal(data, &cache) != nil {
		return nil
	}
	var best *renew.Window
	for _, c := range certs {
		if c.Info == nil {
			continue
		}
		for _, id := range []string{rfcCertID(c.Info), c.Info.ARICertID} {
			e, ok := cache.Entries[id]
			if !ok || e.Start.IsZero() || e.End.Before(e.Start.Time) {
				continue
			}
			if best == nil || e.Start.Before(best.Start) {
				best = &renew.Window{Start: e.Start.Time, End: e.End.Time, ExplanationURL: e.Explanation}
			}
			break
		}
	}
	return best
}
