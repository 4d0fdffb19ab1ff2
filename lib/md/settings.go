package md

// Settings are the server-wide settings that apply to an MD but are not
// part of mod_md's md.json: MD* directives outside any MD section (or
// md.toml's [global] table). md-parse fills them into every record so that
// each later stage has what it needs without re-reading the config.
// Durations and windows keep mod_md's text form ("30s", "7d", "33%"); parse
// them with ParseDuration / ParseTimeslice. Zero values mean "not
// configured, use mod_md's default" (see the Default* constants).
type Settings struct {
	StoreDir             string     `json:"store-dir,omitempty"`              // MDStoreDir, absolute
	MessageCmd           []string   `json:"message-cmd,omitempty"`            // MDMessageCmd argv
	NotifyCmd            []string   `json:"notify-cmd,omitempty"`             // MDNotifyCmd argv
	DNS01Version         int        `json:"dns01-version,omitempty"`          // MDChallengeDns01Version
	PortMap              *PortMap   `json:"port-map,omitempty"`               // MDPortMap
	Reachable            *Reachable `json:"reachable,omitempty"`              // from Listen + MDPortMap
	ActivationDelay      string     `json:"activation-delay,omitempty"`       // MDActivationDelay
	RetryDelay           string     `json:"retry-delay,omitempty"`            // MDRetryDelay
	RetryFailover        int        `json:"retry-failover,omitempty"`         // MDRetryFailover
	CheckInterval        string     `json:"check-interval,omitempty"`         // MDCheckInterval
	HTTPProxy            string     `json:"http-proxy,omitempty"`             // global MDHttpProxy (OCSP)
	StaplingRenewWindow  string     `json:"stapling-renew-window,omitempty"`  // MDStaplingRenewWindow
	StaplingKeepResponse string     `json:"stapling-keep-response,omitempty"` // MDStaplingKeepResponse
	StapleOthers         *bool      `json:"staple-others,omitempty"`          // MDStapleOthers
	CertificateCheck     *CertCheck `json:"certificate-check,omitempty"`      // MDCertificateCheck
	CertificateStatus    *bool      `json:"certificate-status,omitempty"`     // MDCertificateStatus
	ServerStatus         *bool      `json:"server-status,omitempty"`          // MDServerStatus
	MatchNames           string     `json:"match-names,omitempty"`            // MDMatchNames
	BaseServer           bool       `json:"base-server,omitempty"`            // MDBaseServer
	StoreLocks           string     `json:"store-locks,omitempty"`            // MDStoreLocks
	ReloadCmd            []string   `json:"reload-cmd,omitempty"`             // md.toml: run after activation
	DNS01Cmd             []string   `json:"cmd-dns-01,omitempty"`             // global MDChallengeDns01 argv (an MD's own is md.json cmd-dns-01)
	CACerts              string     `json:"ca-certs,omitempty"`               // global MDCACertificateFile
	ProxyCACerts         string     `json:"proxy-ca-certs,omitempty"`         // global MDHttpProxyCACertificateFile
	InitialDelay         string     `json:"initial-delay,omitempty"`          // MDInitialDelay
}

// mod_md's defaults for the settings above.
const (
	DefaultRetryDelay           = "30s"
	DefaultRetryFailover        = 13
	DefaultCheckInterval        = "12h"
	DefaultStaplingRenewWindow  = "33%"
	DefaultStaplingKeepResponse = "7d"
	DefaultDNS01Version         = 1
)

// PortMap is where the public ports 80 and 443 arrive locally; 0 means
// not reachable (MDPortMap "-").
type PortMap struct {
	HTTP  int `json:"http"`
	HTTPS int `json:"https"`
}

// Reachable says whether the CA can reach this host on the public http
// (80) and https (443) ports, as mod_md computes it from Listen and
// MDPortMap (and persists in httpd.json).
type Reachable struct {
	HTTP  bool `json:"http"`
	HTTPS bool `json:"https"`
}

// Or is what r and o make reachable together.
func (r Reachable) Or(o Reachable) Reachable {
	return Reachable{HTTP: r.HTTP || o.HTTP, HTTPS: r.HTTPS || o.HTTPS}
}

// DefaultPortMap is mod_md's default: http:80 https:443.
var DefaultPortMap = PortMap{HTTP: 80, HTTPS: 443}

// CertCheck is MDCertificateCheck: a link name and URL prefix to which a
// certificate's SHA-256 fingerprint is appended.
type CertCheck struct {
	Name string `json:"name"`
	URL  string `json:"url"`
}

// Vhost is a virtual host the MD serves, as md-parse matched it: what
// md-install needs to write web-server config and to verify the served
// certificate.
type Vhost struct {
	ServerName string   `json:"server-name,omitempty"`
	Aliases    []string `json:"aliases,omitempty"`
	Addresses  []string `json:"addresses,omitempty"` // "*:443", "127.0.0.1:8443"
	SSL        bool     `json:"ssl"`
	Protocols  []string `json:"protocols,omitempty"`
	Source     *Source  `json:"source,omitempty"`
}

// HostConfig is what a host without Apache configures per MD (md.toml):
// how challenges are answered and where certificates are deployed.
type HostConfig struct {
	Webroot    string  `json:"webroot,omitempty"`     // http-01 files go to <webroot>/.well-known/acme-challenge/
	HTTPListen string  `json:"http-listen,omitempty"` // standalone http-01 listener, e.g. ":80"
	TLSListen  string  `json:"tls-listen,omitempty"`  // standalone tls-alpn-01 listener, e.g. ":443"
	HTTPSAddr  string  `json:"https-addr,omitempty"`  // where md-install checks the served cert (host:port)
	Deploy     *Deploy `json:"deploy,omitempty"`
}

// Deploy says where md-install writes PEM files for other servers (nginx,
// HAProxy, Postfix, ...) and with which ownership.
type Deploy struct {
	Dir     string `json:"dir"`
	Owner   string `json:"owner,omitempty"`
	Group   string `json:"group,omitempty"`
	Mode    string `json:"mode,omitempty"`     // certificates, octal text, default "0644"
	KeyMode string `json:"key-mode,omitempty"` // keys, octal text, default "0600"
}
