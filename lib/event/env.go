package event

import (
	"path/filepath"
	"strings"

	"github.com/mdtools/mdtools/lib/md"
)

// PathEnv is the environment an event command gets beside its argv, as
// certbot's RENEWED_LINEAGE and lego's LEGO_CERT_PATH give renewal hooks
// the files they need (an mdtools addition; mod_md passes argv only):
//
//	MD_EVENT      the event reason ("installed", "renewed", ...)
//	MD_NAME       the MD's name
//	MD_DOMAINS    its domains, space separated
//	MD_STORE      the store directory
//	MD_KEY_SPECS  its key specs, space separated ("rsa secp256r1")
//	MD_CERT_FILE  the live certificate chain of the first key spec
//	              (<store>/domains/<md>/pubcert.pem, or the first
//	              MDCertificateFile)
//	MD_KEY_FILE   its private key (privkey.pem, or the first MDCertificateKeyFile)
//	MD_CERT_FILE_<SPEC>, MD_KEY_FILE_<SPEC>
//	              the same per key spec, SPEC upper-cased with every
//	              character other than a letter or digit as "_"
//	              (MD_CERT_FILE_RSA, MD_CERT_FILE_SECP256R1)
//
// The files are the live ones: after "installed" they hold the new
// certificate; at "renewing" and "renewed" (md-order) still the old one,
// which md-install replaces. storeDir "" leaves out the store paths.
func PathEnv(storeDir string, m *md.MD) func(reason, name string) []string {
	return func(reason, name string) []string {
		env := []string{"MD_EVENT=" + reason, "MD_NAME=" + name}
		if m == nil {
			return env
		}
		env = append(env, "MD_DOMAINS="+strings.Join(m.Domains, " "))
		specs := m.PrivKey.Effective()
		names := make([]string, len(specs))
		for i, s := range specs {
			names[i] = s.Name()
		}
		env = append(env, "MD_KEY_SPECS="+strings.Join(names, " "))
		if storeDir != "" {
			env = append(env, "MD_STORE="+storeDir)
		}
		for i, s := range specs {
			cert, key := "", ""
			switch {
			case len(m.CertFiles) > 0:
				if i < len(m.CertFiles) {
					cert = m.CertFiles[i]
				}
				if i < len(m.PKeyFiles) {
					key = m.PKeyFiles[i]
				}
			case storeDir != "":
				dir := filepath.Join(storeDir, "domains", name)
				cert, key = filepath.Join(dir, s.FileName("pubcert")), filepath.Join(dir, s.FileName("privkey"))
			}
			if cert == "" {
				continue
			}
			suffix := envSuffix(s.Name())
			if i == 0 {
				env = append(env, "MD_CERT_FILE="+cert, "MD_KEY_FILE="+key)
			}
			env = append(env, "MD_CERT_FILE_"+suffix+"="+cert, "MD_KEY_FILE_"+suffix+"="+key)
		}
		return env
	}
}

// envSuffix makes a key spec name usable in a variable name.
func envSuffix(spec string) string {
	b := []byte(strings.ToUpper(spec))
	for i, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}
