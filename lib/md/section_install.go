package md

// InstallResult is md-install's section of a Record; md-install owns it.
type InstallResult struct {
	// Action is what md-install did with the staged set: "none" (nothing
	// staged), "waiting" (staged but not ready yet: notBefore or
	// MDActivationDelay), "activated", "rejected" (the staged set was
	// invalid and was purged so that md-order orders again), "failed"
	// (activation could not be done now; the staged set is kept),
	// "in-progress" (another node of a shared store holds the MD's lock).
	Action string `json:"action"`
	Reason string `json:"reason,omitempty"`
	At     Time   `json:"at,omitzero"`
	// ReadyAt is when a waiting staged set becomes ready.
	ReadyAt Time `json:"ready-at,omitzero"`
	// Archive is where the previous live set went ("archive/a.org.3").
	Archive string `json:"archive,omitempty"`
	// Account is the account id (accounts/<id>) a staged account was saved as.
	Account string `json:"account,omitempty"`
	// Apache is the Apache snippet file written for this MD.
	Apache string `json:"apache,omitempty"`
	// Deploy is the deploy directory (a symlink to the current file set).
	Deploy string `json:"deploy,omitempty"`
	// Reloaded is true when the reload command ran after this MD changed.
	Reloaded bool `json:"reloaded,omitempty"`
	// Served says whether the server was seen serving the live certificate
	// after the reload; absent when not checked.
	Served *bool `json:"served,omitempty"`
	// Expiring is true when the live certificate is in its warn window.
	Expiring bool `json:"expiring,omitempty"`
	// Certs are the live certificates after this run, one per key spec.
	Certs []CertInfo `json:"certs,omitempty"`
}
