package md

// The per-stage sections of a Record. Each is owned by its stage (md-order,
// md-install, md-staple), which may add fields here; other stages pass them
// on untouched.

// CertInfo identifies one certificate of a key spec.
type CertInfo struct {
	Spec   string `json:"spec"`
	Serial string `json:"serial,omitempty"`             // uppercase hex, as mod_md
	SHA256 string `json:"sha256-fingerprint,omitempty"` // lowercase hex of the DER
	Valid  Period `json:"valid,omitzero"`
}

// OrderResult is md-order's section.
type OrderResult struct {
	// Action is what md-order did: "none" (nothing due), "ordered",
	// "resumed", "staged" (already staged earlier), "dry-run", "vetoed",
	// "failed".
	Action  string     `json:"action"`
	Reason  string     `json:"reason,omitempty"`
	At      Time       `json:"at,omitzero"`
	RenewAt Time       `json:"renew-at,omitzero"`
	CA      string     `json:"ca,omitempty"`
	Certs   []CertInfo `json:"certs,omitempty"`
}

// InstallResult is md-install's section.
type InstallResult struct {
	// Action: "none", "activated", "rejected", "failed".
	Action  string     `json:"action"`
	Reason  string     `json:"reason,omitempty"`
	At      Time       `json:"at,omitzero"`
	Archive string     `json:"archive,omitempty"`
	Served  *bool      `json:"served,omitempty"`
	Certs   []CertInfo `json:"certs,omitempty"`
}

// StapleResult is md-staple's section.
type StapleResult struct {
	At        Time            `json:"at,omitzero"`
	Responses []StapledStatus `json:"responses,omitempty"`
}

// StapledStatus is the OCSP state of one certificate.
type StapledStatus struct {
	Spec      string `json:"spec"`
	Status    string `json:"status"` // good, revoked, unknown, none
	Valid     Period `json:"valid,omitzero"`
	Responder string `json:"responder,omitempty"`
	Action    string `json:"action,omitempty"` // "fetched", "kept", "failed"
}
