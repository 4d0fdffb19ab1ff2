package md

import (
	"encoding/hex"
	"math/big"
	"strings"
)

// SerialHex formats a certificate serial number as mod_md does
// (md_cert_get_serial_number, OpenSSL's BN_bn2hex): upper case, whole bytes
// (so an even number of digits, with a leading zero where needed:
// 061ABF0A858217A5, as openssl x509 -serial prints it), "0" for zero, "-"
// before a negative number.
func SerialHex(n *big.Int) string {
	if n == nil || n.Sign() == 0 {
		return "0"
	}
	s := strings.ToUpper(hex.EncodeToString(n.Bytes()))
	if n.Sign() < 0 {
		return "-" + s
	}
	return s
}
