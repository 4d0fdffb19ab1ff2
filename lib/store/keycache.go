package store

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"sync"
)

// keyCache remembers the keys a process decrypted, by the sha256 of their
// PEM. Decrypting a key costs a PBKDF2 (mod_md's format: about half a
// millisecond), and a run reads the same encrypted key many times: the
// account key staged with each of 1,000 MDs md-install activates, or read
// for each MD md-order orders for. Plain keys are not kept (parsing them
// is cheap).
type keyCache struct {
	mu   sync.Mutex
	keys map[[32]byte]crypto.Signer
}

// maxCachedKeys bounds the cache; when full it starts afresh.
const maxCachedKeys = 256

var encryptedPEM = []byte("ENCRYPTED PRIVATE KEY")

func (c *keyCache) get(data []byte) crypto.Signer {
	if c == nil || !bytes.Contains(data, encryptedPEM) {
		return nil
	}
	sum := sha256.Sum256(data)
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.keys[sum]
}

func (c *keyCache) put(data []byte, key crypto.Signer) {
	if c == nil || !bytes.Contains(data, encryptedPEM) {
		return
	}
	sum := sha256.Sum256(data)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil || len(c.keys) >= maxCachedKeys {
		c.keys = map[[32]byte]crypto.Signer{}
	}
	c.keys[sum] = key
}
