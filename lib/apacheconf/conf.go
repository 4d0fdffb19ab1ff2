package apacheconf

import (
	"github.com/mdtools/mdtools/lib/md"
)

// props are mod_md's per-server (or per-<MDomain>) properties, the
// md_srv_conf_t fields that srv_conf_props_* copy; nil/"" means unset
// (mod_md's DEF_VAL / NULL).
type props struct {
	transitive       *int
	requireHTTPS     *string // "" = off
	renewMode        *int
	mustStaple       *bool
	pks              md.KeySpecs
	renewWindow      *md.Timeslice
	warnWindow       *md.Timeslice
	caURLs           []string
	caURLsSet        bool
	contact          string
	caProto          string
	caAgreement      string
	caChallenges     []string
	caChallengesSet  bool
	eabKID, eabHMAC  string
	profile          string
	profileMandatory *bool
	stapling         *bool
	stapleOthers     *bool
	ariRenewals      *bool
	reuseKey         *bool  // MDPrivateKeyReuse (mdtools)
	preferredChain   string // MDPreferredChain (mdtools)
	dns01Cmd         string
	proxyURL         string
	caCerts          string
	proxyCACerts     string
}

// modConf is mod_md's module-wide configuration (md_mod_conf_t) plus the
// "env" table that global MDChallengeDns01, MDHttpProxy, ... fill.
type modConf struct {
	storeDir         string
	storeDirFile     string
	local80          int
	local443         int
	portMapSet       bool
	baseServer       bool
	matchServerNames bool
	notifyCmd        string
	messageCmd       string
	serverStatus     *bool
	certStatus       *bool
	ocspKeep         string
	ocspRenew        string
	certCheckName    string
	certCheckURL     string
	initialDelay     string
	checkInterval    string
	retryDelay       string
	retryFailover    int
	storeLocks       string
	activationDelay  string
	dns01Version     int
	envDNS01Cmd      string
	envProxyURL      string
	envCACerts       string
	envProxyCACerts  string
}

// mdDef is one MDomain / <MDomain> as configured.
type mdDef struct {
	domains    md.DomainSet
	transitive int // -1 unset
	file       string
	line       int
	props      props
	certFiles  []string
	keyFiles   []string
	section    bool
}

// addr is one <VirtualHost> address.
type addr struct {
	host string
	port int // 0 = any ("*" or none given)
}

// server is the base server or a <VirtualHost>.
type server struct {
	base        bool
	hostname    string
	hostnameSet bool
	names       []string // exact ServerAlias names
	wildNames   []string // ServerAlias with wildcards
	admin       string
	adminSet    bool
	addrs       []addr
	port        int
	ssl         bool
	sslSet      bool
	protocols   []string
	protoSet    bool
	props       *props // nil until an MD directive sets one (most vhosts have none); never nil for the base server
	file        string
	line        int
	seq         int // position among the vhosts
	assigned    []*mdDef
}

// listener is a Listen directive.
type listener struct {
	host     string
	port     int
	protocol string
}

// config is everything read from the files.
type config struct {
	mc        modConf
	base      *server
	vhosts    []*server
	mds       []*mdDef
	listeners []listener
}

// defaultAdmin is httpd's DEFAULT_ADMIN, which mod_md never uses as contact.
const defaultAdmin = "[no address given]"
