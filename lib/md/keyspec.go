package md

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// Key types as mod_md names them in md.json.
const (
	KeyDefault = "Default"
	KeyRSA     = "RSA"
	KeyEC      = "EC"
)

// KeySpec is one private-key specification (MDPrivateKeys entry).
type KeySpec struct {
	Type  string `json:"type"`
	Bits  int    `json:"bits,omitempty"`
	Curve string `json:"curve,omitempty"`
}

// Name is the spec name used in file names and status keys: "rsa" for RSA
// and Default, otherwise the curve exactly as configured.
func (k KeySpec) Name() string {
	if k.Type == KeyEC && k.Curve != "" {
		return k.Curve
	}
	return "rsa"
}

// String is a human label such as "rsa-2048" or "secp256r1", as mod_md logs.
func (k KeySpec) String() string {
	switch k.Type {
	case KeyRSA:
		bits := k.Bits
		if bits == 0 {
			bits = 2048
		}
		return "rsa-" + strconv.Itoa(bits)
	case KeyEC:
		return k.Curve
	default:
		return "rsa-2048"
	}
}

// CurveName normalises the curve aliases mod_md and OpenSSL accept to the
// NIST name Go knows: "P-256", "P-384", "P-521"; ok is false otherwise.
func CurveName(curve string) (string, bool) {
	switch strings.ToLower(curve) {
	case "p-256", "secp256r1", "prime256v1":
		return "P-256", true
	case "p-384", "secp384r1":
		return "P-384", true
	case "p-521", "secp521r1":
		return "P-521", true
	}
	return "", false
}

// KeySpecs is the list of key specs of an MD. mod_md writes a single spec as
// an object and several as an array; both forms are read.
type KeySpecs []KeySpec

// DefaultKeySpecs is what an MD without MDPrivateKeys gets: one RSA 2048 key.
var DefaultKeySpecs = KeySpecs{{Type: KeyRSA, Bits: 2048}}

// MarshalJSON writes one spec as an object, several as an array.
func (ks KeySpecs) MarshalJSON() ([]byte, error) {
	if len(ks) == 1 {
		return json.Marshal(ks[0])
	}
	return json.Marshal([]KeySpec(ks))
}

// UnmarshalJSON reads either form.
func (ks *KeySpecs) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '{' {
		var k KeySpec
		if err := json.Unmarshal(b, &k); err != nil {
			return err
		}
		*ks = KeySpecs{k}
		return nil
	}
	var list []KeySpec
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("want a key spec object or an array of them")
	}
	*ks = list
	return nil
}

// Effective returns the specs to use: the configured ones or the default.
func (ks KeySpecs) Effective() KeySpecs {
	if len(ks) == 0 {
		return DefaultKeySpecs
	}
	return ks
}

// FileName gives a per-key-spec store file name as mod_md derives it:
// "privkey.pem" for RSA/Default, "privkey.<curve>.pem" (lower-cased) for EC.
// base is "privkey" or "pubcert", optionally prefixed ("fallback-").
func (k KeySpec) FileName(base string) string {
	if k.Type == KeyEC && k.Curve != "" {
		return strings.ToLower(base + "." + k.Curve + ".pem")
	}
	return base + ".pem"
}
