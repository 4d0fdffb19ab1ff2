package md

// StapleResult is md-staple's section of a Record; md-staple owns it.
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
