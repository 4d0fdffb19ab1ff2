package apacheconf

import (
	"strings"
)

// Argument shapes of httpd's command_rec.
const (
	take1 = iota
	take2
	take12
	takeArgv
	rawArgs
)

// Placement classes of mod_md's md_conf_check_location.
const (
	locAll   = iota // A: anywhere (server, vhost, MD section)
	locNotMD        // N: not inside an MD section
	locMD           // S: only inside an MD section
)

type directive struct {
	name  string // canonical spelling, used in messages
	args  int
	help  string
	dirOK bool // RSRC_CONF|OR_AUTHCFG: may appear in <Directory>, <If>, ...
	set   func(w *walker, n *node, argv []string, raw string) string
}

// mdDirectives are mod_md 2.6's commands (src/mod_md_config.c md_cmds).
// <MDomain> and <MDomainSet> are handled as sections.
var mdDirectives = map[string]*directive{}

func init() {
	for _, d := range []*directive{
		{"MDCertificateAuthority", takeArgv, "URL(s) or known name(s) of CA issuing the certificates", false, setCA},
		{"MDCertificateAgreement", take1, "either 'accepted' or the URL of CA Terms-of-Service agreement you accept", false, setAgreement},
		{"MDCAChallenges", takeArgv, "A list of challenge types to be used.", false, setChallenges},
		{"MDCertificateProtocol", take1, "Protocol used to obtain/renew certificates", false, setProto},
		{"MDContactEmail", take1, "Email address used for account registration", false, setContact},
		{"MDDriveMode", take1, "deprecated, older name for MDRenewMode", false, setRenewMode},
		{"MDRenewMode", take1, "Controls how renewal of Managed Domain certificates shall be handled.", false, setRenewMode},
		{"MDomain", takeArgv, "A group of server names with one certificate", false, setMDomain},
		{"MDMember", takeArgv, "Define domain name(s) part of the Managed Domain. Use 'auto' or 'manual' to enable/disable auto adding names from virtual hosts.", false, setMembers},
		{"MDMembers", takeArgv, "Define domain name(s) part of the Managed Domain. Use 'auto' or 'manual' to enable/disable auto adding names from virtual hosts.", false, setMembers},
		{"MDMustStaple", take1, "Enable/Disable the Must-Staple flag for new certificates.", false, onOffProp(func(p *props) **bool { return &p.mustStaple })},
		{"MDPortMap", take12, "Declare the mapped ports 80 and 443 on the local server. E.g. 80:8000 to indicate that the server port 8000 is reachable as port 80 from the internet. Use 80:- to indicate that port 80 is not reachable from the outside.", false, setPortMap},
		{"MDPrivateKeys", takeArgv, "set the type and parameters for private key generation", false, setPKeys},
		{"MDHttpProxy", take1, "URL of a HTTP(S) proxy to use for outgoing connections", false, setProxy},
		{"MDStoreDir", take1, "the directory for file system storage of managed domain data.", false, setStoreDir},
		{"MDRenewWindow", take1, "Time length for renewal before certificate expires (defaults to days).", false, setWindow(false)},
		{"MDRequireHttps", take1, "Redirect non-secure requests to the https: equivalent.", true, setRequireHTTPS},
		{"MDNotifyCmd", rawArgs, "Set the command to run when signup/renew of domain is complete.", false, setNotifyCmd},
		{"MDBaseServer", take1, "Allow managing of base server outside virtual hosts.", false, setBaseServer},
		{"MDChallengeDns01", rawArgs, "Set the command for setup/teardown of dns-01 challenges", false, setDNS01Cmd},
		{"MDChallengeDns01Version", take1, "Set the type of arguments to call `MDChallengeDns01` with", false, setDNS01Version},
		{"MDCertificateFile", take1, "set the static certificate (chain) file to use for this domain.", false, addCertFile},
		{"MDCertificateKeyFile", take1, "set the static private key file to use for this domain.", false, addKeyFile},
		{"MDServerStatus", take1, "On to see Managed Domains in server-status.", false, globalOnOff(func(m *modConf) **bool { return &m.serverStatus })},
		{"MDCertificateStatus", take1, "On to see Managed Domain expose /.httpd/certificate-status.", false, globalOnOff(func(m *modConf) **bool { return &m.certStatus })},
		{"MDWarnWindow", take1, "When less time remains for a certificate, send our/log a warning (defaults to days)", false, setWindow(true)},
		{"MDMessageCmd", rawArgs, "Set the command run when a message about a domain is issued.", false, setMessageCmd},
		{"MDStapling", take1, "Enable/Disable OCSP Stapling for this/all Managed Domain(s).", false, onOffProp(func(p *props) **bool { return &p.stapling })},
		{"MDStapleOthers", take1, "Enable/Disable OCSP Stapling for certificates not in Managed Domains.", false, onOffProp(func(p *props) **bool { return &p.stapleOthers })},
		{"MDStaplingKeepResponse", take1, "The amount of time to keep an OCSP response in the store.", false, setOCSPKeep},
		{"MDStaplingRenewWindow", take1, "Time length for renewal before OCSP responses expire (defaults to days).", false, setOCSPRenew},
		{"MDCertificateCheck", take2, "Set name and URL pattern for a certificate monitoring site.", false, setCertCheck},
		{"MDActivationDelay", take1, "How long to delay activation of new certificates", false, setActivationDelay},
		{"MDCACertificateFile", take1, "Set the CA file to use for connections", false, setCACerts},
		{"MDHttpProxyCACertificateFile", take1, "Set the CA file to use for connections to the HTTP(S) proxy", false, setProxyCACerts},
		{"MDExternalAccountBinding", take12, "Set the external account binding keyid and hmac values to use at CA", false, setEAB},
		{"MDRetryDelay", take1, "Time length for first retry, doubled on every consecutive error.", false, setRetryDelay},
		{"MDRetryFailover", take1, "The number of errors before a failover to another CA is triggered.", false, setRetryFailover},
		{"MDStoreLocks", take1, "Configure locking of store for updates.", false, setStoreLocks},
		{"MDMatchNames", take1, "Determines how DNS names are matched to vhosts.", false, setMatchNames},
		{"MDInitialDelay", take1, "How long to delay the first certificate check.", false, setInitialDelay},
		{"MDCheckInterval", take1, "Time between certificate checks.", false, setCheckInterval},
		{"MDProfile", take1, "The name of an CA profile to order certificates for.", false, setProfile},
		{"MDProfileMandatory", take1, "Determines if a configured CA profile is mandatory.", false, onOffProp(func(p *props) **bool { return &p.profileMandatory })},
		{"MDRenewViaARI", take1, "Enable/Disable ACME ARI (RFC 9773) to trigger renewals.", false, onOffProp(func(p *props) **bool { return &p.ariRenewals })},
		// mdtools extensions (not in mod_md)
		{"MDPrivateKeyReuse", take1, "Keep the private keys when certificates are renewed (mdtools).", false, onOffProp(func(p *props) **bool { return &p.reuseKey })},
		{"MDPreferredChain", take1, "Prefer the CA's chain whose topmost issuer has this common name (mdtools).", false, setPreferredChain},
	} {
		mdDirectives[strings.ToLower(d.name)] = d
	}
}

// Directives is the list of mod_md directive names this reader knows,
// including the <MDomain> and <MDomainSet> sections.
func Directives() []string {
	out := []string{"<MDomain>", "<MDomainSet>"}
	for _, d := range mdDirectives {
		out = append(out, d.name)
	}
	return out
}

var coreDirectives = map[string]bool{
	"servername": true, "serveralias": true, "serveradmin": true, "listen": true, "sslengine": true,
	"protocols": true, "include": true, "includeoptional": true, "define": true, "undefine": true,
	"serverroot": true, "loadmodule": true,
}

func knownDirective(name string) bool {
	k := strings.ToLower(strings.TrimPrefix(name, "<"))
	return coreDirectives[k] || mdDirectives[k] != nil || knownSection(k)
}

func knownSection(name string) bool {
	switch strings.ToLower(strings.Trim(name, "<>")) {
	case "virtualhost", "mdomain", "mdomainset", "directory", "directorymatch", "location", "locationmatch",
		"files", "filesmatch", "if", "elseif", "else", "ifmodule", "ifdefine", "iffile", "ifversion",
		"ifdirective", "ifsection", "limit", "limitexcept":
		return true
	}
	return false
}
