package store

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"testing"
)

// fullPublic is the slow path: parse the whole key (computing the public
// point from the scalar) and take its public half.
func fullPublic(t *testing.T, p []byte) (crypto.PublicKey, error) {
	t.Helper()
	block, _ := pem.Decode(p)
	var k any
	var err error
	if block.Type == "EC PRIVATE KEY" {
		k, err = x509.ParseECPrivateKey(block.Bytes)
	} else {
		k, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, err
	}
	return k.(crypto.Signer).Public(), nil
}

// TestECPublicSameAsFullParse: the cheap EC path (the public key the
// file carries) gives what a full parse gives, key or error, on every
// form an EC key file takes; forms it does not read itself fall back to
// the full parse. The one state where they could differ, a file whose
// stored public key is not its scalar's, is the last row: KeyFits then
// judges by the stored public key, as OpenSSL's X509_check_private_key
// (mod_md) does.
func TestECPublicSameAsFullParse(t *testing.T) {
	oids := map[elliptic.Curve]asn1.ObjectIdentifier{}
	for _, c := range ecCurves {
		oids[c.curve] = c.oid
	}
	sec1Of := func(k *ecdsa.PrivateKey) sec1 {
		pub, err := k.PublicKey.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		d, err := k.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		return sec1{Version: 1, PrivateKey: d, Curve: oids[k.Curve], PublicKey: asn1.BitString{Bytes: pub, BitLength: 8 * len(pub)}}
	}
	sec1PEM := func(s sec1) []byte {
		der, err := asn1.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})
	}
	pkcs8PEM := func(s sec1, curve asn1.ObjectIdentifier) []byte {
		inner, err := asn1.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		param, _ := asn1.Marshal(curve)
		der, err := asn1.Marshal(pkcs8{Algo: pkix.AlgorithmIdentifier{Algorithm: oidEC, Parameters: asn1.RawValue{FullBytes: param}}, PrivateKey: inner})
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	type row struct {
		name string
		pem  []byte
		fast bool // answered without the full parse
	}
	var rows []row
	for _, curve := range []elliptic.Curve{elliptic.P224(), elliptic.P256(), elliptic.P384(), elliptic.P521()} {
		k, err := ecdsa.GenerateKey(curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		name := curve.Params().Name
		goDER, _ := x509.MarshalPKCS8PrivateKey(k)
		goSEC1, _ := x509.MarshalECPrivateKey(k)
		s := sec1Of(k)
		noPub := s
		noPub.PublicKey = asn1.BitString{}
		noCurve := s
		noCurve.Curve = nil
		zero, big := s, s
		zero.PrivateKey = make([]byte, len(s.PrivateKey))
		big.PrivateKey = curve.Params().N.FillBytes(make([]byte, len(s.PrivateKey)))
		padded := s
		padded.PrivateKey = append([]byte{0}, s.PrivateKey...)
		v2 := s
		v2.Version = 2
		offCurve := s
		offCurve.PublicKey.Bytes = append([]byte(nil), s.PublicKey.Bytes...)
		offCurve.PublicKey.Bytes[len(offCurve.PublicKey.Bytes)-1] ^= 1
		compressed := s
		compressed.PublicKey = asn1.BitString{Bytes: elliptic.MarshalCompressed(curve, k.X, k.Y), BitLength: 8 * len(elliptic.MarshalCompressed(curve, k.X, k.Y))}
		rows = append(rows,
			row{name + " pkcs8 (Go)", pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: goDER}), true},
			row{name + " sec1 (Go)", pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: goSEC1}), true},
			row{name + " pkcs8, inner curve omitted", pkcs8PEM(noCurve, oids[curve]), true},
			row{name + " pkcs8 without public key", pkcs8PEM(noPub, oids[curve]), false},
			row{name + " sec1 without public key", sec1PEM(noPub), false},
			row{name + " sec1 without curve", sec1PEM(noCurve), false},
			row{name + " scalar zero", sec1PEM(zero), false},
			row{name + " scalar N", sec1PEM(big), false},
			row{name + " scalar zero-padded", sec1PEM(padded), false},
			row{name + " version 2", sec1PEM(v2), false},
			row{name + " public point off the curve", sec1PEM(offCurve), false},
			row{name + " public point compressed", sec1PEM(compressed), false},
			row{name + " pkcs8 unknown curve", pkcs8PEM(s, asn1.ObjectIdentifier{1, 2, 3}), false},
		)
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			block, _ := pem.Decode(r.pem)
			var fast crypto.PublicKey
			switch block.Type {
			case "EC PRIVATE KEY":
				fast = nilIfNone(ecPublic(nil, block.Bytes))
			default:
				var p pkcs8
				if _, err := asn1.Unmarshal(block.Bytes, &p); err != nil {
					t.Fatal(err)
				}
				fast = nilIfNone(ecPKCS8Public(p))
			}
			if (fast != nil) != r.fast {
				t.Errorf("answered without a full parse: %v, want %v", fast != nil, r.fast)
			}
			got, gotErr := PublicKeyPEM(r.pem, nil)
			want, wantErr := fullPublic(t, r.pem)
			if (gotErr == nil) != (wantErr == nil) {
				t.Fatalf("PublicKeyPEM error %v; full parse error %v", gotErr, wantErr)
			}
			if wantErr == nil && !want.(interface{ Equal(crypto.PublicKey) bool }).Equal(got) {
				t.Errorf("PublicKeyPEM gives another key than the full parse")
			}
		})
	}

	// A file whose stored public key is another key's: judged by the stored key.
	a, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	b, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	mixed := sec1Of(a)
	mixed.PublicKey = sec1Of(b).PublicKey
	got, err := PublicKeyPEM(sec1PEM(mixed), nil)
	if err != nil || !b.PublicKey.Equal(got) {
		t.Errorf("inconsistent key file: %v, %v; want the stored public key", got, err)
	}
}

func nilIfNone(k *ecdsa.PublicKey) crypto.PublicKey {
	if k == nil {
		return nil
	}
	return k
}
