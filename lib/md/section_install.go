package md

// InstallResult is md-install's section of a Record; md-install owns it.
type InstallResult struct {
	// Action: "none", "activated", "rejected", "failed".
	Action  string     `json:"action"`
	Reason  string     `json:"reason,omitempty"`
	At      Time       `json:"at,omitzero"`
	Archive string     `json:"archive,omitempty"`
	Served  *bool      `json:"served,omitempty"`
	Certs   []CertInfo `json:"certs,omitempty"`
}
