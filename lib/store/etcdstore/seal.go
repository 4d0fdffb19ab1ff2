package etcdstore

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mdtools/mdtools/lib/fsread"
	"github.com/mdtools/mdtools/lib/store"
)

// The value envelope: "mdtools-etcd 1 <mtime ns> <encoding>\n" + content.
const (
	magic      = "mdtools-etcd 1 "
	encPlain   = "plain"
	encAESGCM  = "aes256gcm"
	nodeKeyLen = 32
)

// KeyFileEnv names the node-local key file that seals private keys.
const KeyFileEnv = "MD_STORE_KEY_FILE"

// ErrNoKey means a private key was read or written without the node key.
var ErrNoKey = errors.New("no node key to seal private keys in etcd")

// envelope is a parsed value.
type envelope struct {
	mtime  time.Time
	enc    string
	header []byte // the header line with its newline
	body   []byte
}

func parseEnvelope(r string, raw []byte) (envelope, error) {
	line, body, ok := bytes.Cut(raw, []byte("\n"))
	fields := strings.Fields(string(line))
	if !ok || !bytes.HasPrefix(line, []byte(magic)) || len(fields) != 4 {
		return envelope{}, &store.CorruptError{Path: r, Err: errors.New("not a value written by mdtools (no \"mdtools-etcd 1\" header)")}
	}
	ns, err := strconv.ParseInt(fields[2], 10, 64)
	if err != nil || fields[3] != encPlain && fields[3] != encAESGCM {
		return envelope{}, &store.CorruptError{Path: r, Err: fmt.Errorf("bad value header %q", line)}
	}
	return envelope{mtime: time.Unix(0, ns), enc: fields[3], header: raw[:len(line)+1], body: body}, nil
}

func header(mtime time.Time, enc string) []byte {
	return []byte(magic + strconv.FormatInt(mtime.UnixNano(), 10) + " " + enc + "\n")
}

// value is a decoded envelope.
type value struct {
	envelope
	data []byte
}

// open decodes the value of the file r (its path below the prefix),
// unsealing a sealed one.
func (b *Backend) open(r string, raw []byte) (value, error) {
	env, err := parseEnvelope(r, raw)
	if err != nil {
		return value{}, err
	}
	if env.enc == encPlain {
		return value{envelope: env, data: env.body}, nil
	}
	aead, err := b.seal.aead()
	if err != nil {
		return value{}, fmt.Errorf("reading %s: %w", r, err)
	}
	ns := aead.NonceSize()
	if len(env.body) < ns {
		return value{}, &store.CorruptError{Path: r, Err: errors.New("sealed value too short")}
	}
	data, err := aead.Open(nil, env.body[:ns], env.body[ns:], aad(r, env.header))
	if err != nil {
		return value{}, &store.CorruptError{Path: r, Err: errors.New("cannot unseal: another node key, or the value was moved or altered")}
	}
	return value{envelope: env, data: data}, nil
}

// aad binds a sealed value to its path and header.
func aad(r string, header []byte) []byte { return append([]byte(r+"\n"), header...) }

// sealValue makes the envelope of data for the file r: private keys are
// sealed with the node key, everything else is kept as is.
func (b *Backend) sealValue(r, file string, mtime time.Time, data []byte) ([]byte, error) {
	if !store.IsKeyFile(file) {
		return append(header(mtime, encPlain), data...), nil
	}
	aead, err := b.seal.aead()
	if err != nil {
		return nil, fmt.Errorf("writing %s: %w", r, err)
	}
	h := header(mtime, encAESGCM)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out := append(h, nonce...)
	return aead.Seal(out, nonce, data, aad(r, h)), nil
}

// reseal moves a value from path from to path to: sealed values are
// bound to their path and are sealed anew; the modification time stays.
func (b *Backend) reseal(from, to, file string, raw []byte) ([]byte, error) {
	v, err := b.open(from, raw)
	if err != nil {
		return nil, err
	}
	if v.enc == encPlain {
		return raw, nil
	}
	return b.sealValue(to, file, v.mtime, v.data)
}

// mtime reads only the header of the value of key.
func (b *Backend) mtime(key string, raw []byte) (time.Time, error) {
	env, err := parseEnvelope(strings.TrimPrefix(key, b.prefix+"/"), raw)
	return env.mtime, err
}

// sealer holds the node key, read from its file when first needed.
type sealer struct {
	path string
	once sync.Once
	gcm  cipher.AEAD
	err  error
}

func (s *sealer) aead() (cipher.AEAD, error) {
	s.once.Do(func() {
		if s.path == "" {
			s.err = fmt.Errorf("%w: set $%s or --store-key-file to the node's key file (32 random bytes, e.g. `openssl rand -base64 32`, mode 0600; see md-store(5))", ErrNoKey, KeyFileEnv)
			return
		}
		key, err := ReadNodeKey(s.path)
		if err != nil {
			s.err = fmt.Errorf("%w: %v", ErrNoKey, err)
			return
		}
		blk, err := aes.NewCipher(key)
		if err == nil {
			s.gcm, err = cipher.NewGCM(blk)
		}
		s.err = err
	})
	return s.gcm, s.err
}

// ReadNodeKey reads a node key file: 32 bytes, raw or in base64 or hex
// text. The file must not be readable by group or others.
func ReadNodeKey(path string) ([]byte, error) {
	data, err := fsread.ReadFile(path, 4096)
	if err != nil {
		return nil, fmt.Errorf("reading the node key: %w", err)
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("node key file %s has mode %04o: it must be readable by its owner only (chmod 600)", path, fi.Mode().Perm())
	}
	if len(data) == nodeKeyLen {
		return data, nil
	}
	text := strings.TrimSpace(string(data))
	for _, dec := range []func(string) ([]byte, error){base64.StdEncoding.DecodeString, base64.RawURLEncoding.DecodeString, hex.DecodeString} {
		if k, err := dec(text); err == nil && len(k) == nodeKeyLen {
			return k, nil
		}
	}
	return nil, fmt.Errorf("node key file %s: want %d bytes, raw or as base64 or hex text", path, nodeKeyLen)
}
