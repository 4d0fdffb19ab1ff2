package md

// StapleResult is md-staple's section of a Record; md-staple owns it.
type StapleResult struct {
	At        Time            `json:"at,omitzero"`
	Responses []StapledStatus `json:"responses,omitempty"`
	// Warnings are problems an operator should fix that did not stop the
	// stage: a chain without issuer, must-staple with a CA that runs no
	// OCSP responder, a revoked certificate.
	Warnings []string `json:"warnings,omitempty"`
}

// StapledStatus is the OCSP (or, where the CA runs no responder, CRL)
// state of one certificate.
type StapledStatus struct {
	Spec      string `json:"spec"`
	ID        string `json:"id,omitempty"`   // hex SHA-1 of the cert DER, mod_md's OCSP id
	Cert      string `json:"cert,omitempty"` // the certificate file (--cert) or store file
	Status    string `json:"status"`         // good, revoked, unknown, none
	Valid     Period `json:"valid,omitzero"`
	RenewAt   Time   `json:"renew-at,omitzero"` // when the response enters its renew window
	Responder string `json:"responder,omitempty"`
	CRL       string `json:"crl,omitempty"`    // CRL distribution point used instead of OCSP
	Source    string `json:"source,omitempty"` // "ocsp", "crl" or "" (no revocation source)
	Action    string `json:"action,omitempty"` // "fetched", "kept", "failed", "skipped", "in-progress" (another node fetches it)
	Detail    string `json:"detail,omitempty"` // why skipped or failed, in words
	Errors    int    `json:"errors,omitempty"` // consecutive failed attempts
	NextRun   Time   `json:"next-run,omitzero"`
	File      string `json:"file,omitempty"` // DER response written for nginx/HAProxy
}
