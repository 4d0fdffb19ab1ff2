package md

// CertInfo identifies one certificate of a key spec.
type CertInfo struct {
	Spec   string `json:"spec"`
	Serial string `json:"serial,omitempty"`             // uppercase hex, as mod_md
	SHA256 string `json:"sha256-fingerprint,omitempty"` // lowercase hex of the DER
	Valid  Period `json:"valid,omitzero"`
}

// OrderResult is md-order's section of a Record; md-order owns it.
type OrderResult struct {
	// Action is what md-order did: "none" (nothing due), "ordered",
	// "resumed", "staged" (already staged earlier), "dry-run", "vetoed",
	// "failed", "backoff" (the last attempt failed, the retry waits),
	// "locked", "in-progress" (another node of a shared store holds the
	// MD's lock and works on it: not a failure, no exit 3).
	Action  string     `json:"action"`
	Reason  string     `json:"reason,omitempty"`
	At      Time       `json:"at,omitzero"`
	RenewAt Time       `json:"renew-at,omitzero"`
	CA      string     `json:"ca,omitempty"`
	Certs   []CertInfo `json:"certs,omitempty"`
	// Errors, FailingSince and NextRun describe a failing renewal ("failed"
	// or "backoff"): consecutive failed attempts, when the first of them
	// failed, and when the next attempt may run.
	Errors       int  `json:"errors,omitempty"`
	FailingSince Time `json:"failing-since,omitzero"`
	NextRun      Time `json:"next-run,omitzero"`
	// Warnings are problems found while ordering that did not stop it
	// (must-staple from a CA without an OCSP responder; no chain with the
	// preferred-chain issuer).
	Warnings []string `json:"warnings,omitempty"`
}
