package md

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// MinRSABits is mod_md's lower bound for RSA keys.
const MinRSABits = 2048

// ParseKeySpecs parses MDPrivateKeys arguments ("Default", "RSA [bits]",
// "RSA<bits>", or a curve name), with mod_md's rules and error texts. The
// md.toml "private-keys" setting takes the same words.
func ParseKeySpecs(args []string) (KeySpecs, error) {
	if len(args) == 0 {
		return nil, errors.New("needs to specify the private key type")
	}
	var ks KeySpecs
	hasRSA := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case strings.EqualFold(a, "Default"):
			if len(args) > 1 {
				return nil, errors.New("'Default' allows no other parameter")
			}
			ks = append(ks, KeySpec{Type: KeyDefault})
		case len(a) > 3 && strings.EqualFold(a[:3], "RSA") && isDigit(a[3]):
			bits, err := rsaBits(a[3:])
			if err != nil {
				return nil, err
			}
			if hasRSA {
				return nil, errors.New("two keys of type 'RSA' are not possible.")
			}
			hasRSA = true
			ks = append(ks, KeySpec{Type: KeyRSA, Bits: bits})
		case strings.EqualFold(a, "RSA"):
			bits := MinRSABits
			if i+1 < len(args) && len(args[i+1]) > 0 && isDigit(args[i+1][0]) {
				i++
				var err error
				if bits, err = rsaBits(args[i]); err != nil {
					return nil, err
				}
			}
			if hasRSA {
				return nil, errors.New("two keys of type 'RSA' are not possible.")
			}
			hasRSA = true
			ks = append(ks, KeySpec{Type: KeyRSA, Bits: bits})
		default:
			for _, k := range ks {
				if k.Type == KeyEC && strings.EqualFold(k.Curve, a) {
					return nil, fmt.Errorf("two keys of type '%s' are not possible.", a)
				}
			}
			ks = append(ks, KeySpec{Type: KeyEC, Curve: a})
		}
	}
	return ks, nil
}

func rsaBits(s string) (int, error) {
	n, err := strconv.ParseInt(strings.TrimLeft(s, "+"), 10, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		// mod_md's apr_atoi64 reads leading digits; so do we.
		j := 0
		for j < len(s) && isDigit(s[j]) {
			j++
		}
		n, err = strconv.ParseInt(s[:j], 10, 64)
	}
	if errors.Is(err, strconv.ErrRange) || n >= 1<<31-1 {
		return 0, errors.New("is too large for an RSA key length.")
	}
	if n < MinRSABits {
		return 0, fmt.Errorf("must be %d or higher in order to be considered safe.", MinRSABits)
	}
	return int(n), nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }
