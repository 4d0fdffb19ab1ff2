package store

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/mdtools/mdtools/lib/md"
)

// storeFile is md_store.json.
type storeFile struct {
	Store struct {
		Version json.Number `json:"version"`
	} `json:"store"`
	Key string `json:"key"`
}

// loadOrCreateKey reads md_store.json, or creates it with a fresh random key
// when the store is new. A corrupt file is an error naming it; it is never
// overwritten, since that would make every encrypted key unreadable.
func (s *Store) loadOrCreateKey(ctx context.Context) ([]byte, error) {
	data, err := s.b.Read(ctx, GroupRoot, "", FileStore)
	if notExist(err) {
		// Two commands opening a new store at once must not both create
		// a key (the second would make the first one's keys unreadable):
		// create it under the store-wide lock, re-reading first.
		unlock, lerr := s.b.Lock(ctx, "", defaultLockWait)
		if lerr != nil {
			return nil, fmt.Errorf("creating %s/%s: %w", s.dir, FileStore, lerr)
		}
		defer unlock()
		data, err = s.b.Read(ctx, GroupRoot, "", FileStore)
	}
	if notExist(err) {
		key := make([]byte, storeKeyLen)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		out := fmt.Sprintf("{\n  \"store\": {\n    \"version\": %d.0\n  },\n  \"key\": %q\n}\n",
			storeVersion, base64.RawURLEncoding.EncodeToString(key))
		if err := s.b.Write(ctx, GroupRoot, "", FileStore, []byte(out)); err != nil {
			return nil, err
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s/%s: %w", s.dir, FileStore, err)
	}
	var sf storeFile
	if err := json.Unmarshal(data, &sf); err != nil {
		return nil, fmt.Errorf("%s/%s: not valid JSON (%v); the store key inside protects the encrypted keys, restore it from backup", s.dir, FileStore, err)
	}
	if v, err := strconv.ParseFloat(sf.Store.Version.String(), 64); err != nil || v > storeVersion {
		return nil, fmt.Errorf("%s/%s: store version %q is not supported (at most %d)", s.dir, FileStore, sf.Store.Version, storeVersion)
	}
	key, err := decodeStoreKey(sf.Key)
	if err != nil || len(key) == 0 {
		return nil, fmt.Errorf("%s/%s: field \"key\" is not base64url data", s.dir, FileStore)
	}
	return key, nil
}

func decodeStoreKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.StdEncoding, base64.RawStdEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	return nil, errors.New("bad base64")
}

// encrypted reports whether keys in group g are stored encrypted, as
// mod_md does for accounts, staging and ocsp.
func encrypted(g Group) bool {
	return g == GroupAccounts || g == GroupStaging || g == GroupOCSP
}

// CorruptError says which store file is unreadable and why.
type CorruptError struct {
	Path string
	Err  error
}

func (e *CorruptError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *CorruptError) Unwrap() error { return e.Err }

func (s *Store) corrupt(g Group, name, file string, err error) error {
	return &CorruptError{Path: s.dir + "/" + string(g) + "/" + name + "/" + file, Err: err}
}

// LoadMD reads <group>/<name>/md.json (md.DecodeMD's rule); every stage
// reads MD definitions through it.
func (s *Store) LoadMD(ctx context.Context, g Group, name string) (*md.MD, error) {
	data, err := s.Read(ctx, g, name, FileMD)
	if err != nil {
		return nil, err
	}
	m, err := md.DecodeMD(data)
	if err != nil {
		return nil, s.corrupt(g, name, FileMD, err)
	}
	return m, nil
}

// SaveMD writes <group>/<m.Name>/md.json in mod_md's format.
//
// The store always keeps the real EAB HMAC (md-order reads it from there):
// a definition that carries the redacted "***", as every record on the
// stream does (or no HMAC), keeps the HMAC of the stored definition in domains/<md>
// when that is for the same kid, and none otherwise. "***" is never
// written, whichever command writes md.json.
func (s *Store) SaveMD(ctx context.Context, g Group, m *md.MD) error {
	if m.EAB != nil && m.EAB.KID != "" && (m.EAB.HMAC == md.RedactedSecret || m.EAB.HMAC == "") {
		cp := *m
		e := *m.EAB
		e.HMAC = ""
		if old, err := s.LoadMD(ctx, GroupDomains, m.Name); err == nil && old.EAB != nil &&
			old.EAB.KID == e.KID && old.EAB.HMAC != md.RedactedSecret {
			e.HMAC = old.EAB.HMAC
		}
		cp.EAB = &e
		m = &cp
	}
	data, err := md.StoreJSON(m)
	if err != nil {
		return err
	}
	return s.Write(ctx, g, m.Name, FileMD, data)
}

// LoadJob reads a job.json; a missing one gives an empty job for name.
func (s *Store) LoadJob(ctx context.Context, g Group, name string) (*md.Job, error) {
	data, err := s.Read(ctx, g, name, FileJob)
	if notExist(err) {
		return &md.Job{Name: name}, nil
	}
	if err != nil {
		return nil, err
	}
	var j md.Job
	if err := json.Unmarshal(data, &j); err != nil {
		return nil, s.corrupt(g, name, FileJob, err)
	}
	return &j, nil
}

// SaveJob writes a job.json.
func (s *Store) SaveJob(ctx context.Context, g Group, name string, j *md.Job) error {
	data, err := md.StoreJSON(j)
	if err != nil {
		return err
	}
	return s.Write(ctx, g, name, FileJob, data)
}

// LoadJSON reads any JSON file into v, naming the file on error.
func (s *Store) LoadJSON(ctx context.Context, g Group, name, file string, v any) error {
	data, err := s.Read(ctx, g, name, file)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return s.corrupt(g, name, file, err)
	}
	return nil
}

// SaveJSON writes v in the store's JSON format.
func (s *Store) SaveJSON(ctx context.Context, g Group, name, file string, v any) error {
	data, err := md.StoreJSON(v)
	if err != nil {
		return err
	}
	return s.Write(ctx, g, name, file, data)
}

// SaveKey writes a private key as PKCS#8 PEM, encrypted with the store key
// in the groups where mod_md encrypts. Key files are always 0600.
func (s *Store) SaveKey(ctx context.Context, g Group, name, file string, key crypto.Signer) error {
	data, err := s.EncodeKey(g, key)
	if err != nil {
		return err
	}
	return s.Write(ctx, g, name, file, data)
}

// EncodeKey is the PEM SaveKey writes for key in group g (encrypted where
// the store encrypts keys), for a caller that writes one key to several
// places: encrypting it costs a PBKDF2 each time.
func (s *Store) EncodeKey(g Group, key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	block := &pem.Block{Type: "PRIVATE KEY", Bytes: der}
	if encrypted(g) {
		enc, err := encryptPKCS8(der, s.pass)
		if err != nil {
			return nil, fmt.Errorf("encrypting private key: %w", err)
		}
		block = &pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: enc}
	}
	return pem.EncodeToMemory(block), nil
}

// LoadKey reads a private key written by SaveKey, by mod_md, or by OpenSSL
// (PKCS#8 plain or encrypted, PKCS#1, SEC 1).
func (s *Store) LoadKey(ctx context.Context, g Group, name, file string) (crypto.Signer, error) {
	data, err := s.Read(ctx, g, name, file)
	if err != nil {
		return nil, err
	}
	if key := s.keys.get(data); key != nil {
		return key, nil
	}
	key, err := ParseKeyPEM(data, s.pass)
	if err != nil {
		return nil, s.corrupt(g, name, file, err)
	}
	s.keys.put(data, key)
	return key, nil
}

// ParseKeyPEM parses one PEM private key; pass decrypts an encrypted one.
func ParseKeyPEM(data, pass []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM private key found")
	}
	der := block.Bytes
	var k any
	var err error
	switch block.Type {
	case "ENCRYPTED PRIVATE KEY":
		if der, err = decryptPKCS8(der, pass); err != nil {
			return nil, err
		}
		k, err = x509.ParsePKCS8PrivateKey(der)
	case "PRIVATE KEY":
		k, err = x509.ParsePKCS8PrivateKey(der)
	case "RSA PRIVATE KEY":
		k, err = x509.ParsePKCS1PrivateKey(der)
	case "EC PRIVATE KEY":
		k, err = x509.ParseECPrivateKey(der)
	default:
		return nil, fmt.Errorf("PEM block %q is not a private key", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing private key: %w", err)
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", k)
	}
	return signer, nil
}

// SaveChain writes certificates (leaf first, then intermediates) as PEM.
func (s *Store) SaveChain(ctx context.Context, g Group, name, file string, chain []*x509.Certificate) error {
	if len(chain) == 0 {
		return errors.New("saving certificate chain: empty chain")
	}
	var buf bytes.Buffer
	for _, c := range chain {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return s.Write(ctx, g, name, file, buf.Bytes())
}

// LoadChain reads a PEM certificate chain, leaf first.
func (s *Store) LoadChain(ctx context.Context, g Group, name, file string) ([]*x509.Certificate, error) {
	data, err := s.Read(ctx, g, name, file)
	if err != nil {
		return nil, err
	}
	chain, err := ParseChainPEM(data)
	if err != nil {
		return nil, s.corrupt(g, name, file, err)
	}
	return chain, nil
}

// intermediates keeps the intermediate certificates parsed in this process:
// the chains of a store's MDs share a few, so a run over 100,000 MDs parses
// each once and holds one copy. Callers never modify a parsed certificate.
var intermediates = certCache{certs: map[string]*x509.Certificate{}}

// maxIntermediates bounds the cache; beyond it certificates are parsed
// each time.
const maxIntermediates = 256

type certCache struct {
	mu    sync.Mutex
	certs map[string]*x509.Certificate // by DER
}

func (c *certCache) parse(der []byte) (*x509.Certificate, error) {
	c.mu.Lock()
	cert, ok := c.certs[string(der)]
	c.mu.Unlock()
	if ok {
		return cert, nil
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.certs) < maxIntermediates {
		c.certs[string(der)] = cert
	}
	c.mu.Unlock()
	return cert, nil
}

// ParseChainPEM parses concatenated PEM certificates; anything that is not
// a certificate, or no certificate at all, is an error.
func ParseChainPEM(data []byte) ([]*x509.Certificate, error) {
	var chain []*x509.Certificate
	rest := data
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("PEM block %d is %q, want CERTIFICATE", len(chain)+1, block.Type)
		}
		var c *x509.Certificate
		var err error
		if len(chain) == 0 {
			c, err = x509.ParseCertificate(block.Bytes)
		} else {
			c, err = intermediates.parse(block.Bytes)
		}
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(chain)+1, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, errors.New("no PEM certificate found")
	}
	if len(bytes.TrimSpace(rest)) > 0 {
		return nil, errors.New("trailing data after the last certificate (truncated or corrupted PEM)")
	}
	return chain, nil
}
