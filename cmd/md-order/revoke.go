package main

import (
	"context"
	"encoding/json"

	"github.com/mdtools/mdtools/lib/acmeflow"
	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/md"
	ucli "github.com/urfave/cli/v2"
)

const revokeDescription = `Revokes the installed certificates of the MD NAME (domains/NAME/pubcert*.pem;
--spec picks key specs), or the certificate in --cert FILE, at the CA that
issued them (RFC 8555 section 7.6), and prints one JSON line per revoked
certificate: {"name", "spec", "serial", "sha256-fingerprint", "reason",
"reason-code", "by", "account", "ca", "at"}.

The request is signed by the MD's account (its ca.account, else the first
usable account for its CA in the store; --account ID picks another), or,
with --by certificate-key, by the certificate's own private key (the MD's
privkey*.pem, or --key FILE). Without --by, keyCompromise and a certificate
file without an account are signed with the certificate's key (Let's
Encrypt asks for that), everything else with the account.

A revoked certificate of an MD is listed in the store (revoked-NAME.json):
the next md-order run renews the MD at once, raises the "revoked" event
(MDMessageCmd <cmd> revoked NAME, once per certificate), and md-status
shows the certificate as revoked, with the reason. A certificate the CA had
revoked already counts as revoked.

Reasons (RFC 5280): ` + md.RevocationReasonNames + `.

Examples:
  md-order revoke --reason keyCompromise example.org
  md-order revoke --spec P-256 --reason superseded example.org
  md-order revoke --cert old.pem --account ACME-acme-v02.api.letsencr-0000 --reason cessationOfOperation
  md-order revoke --cert leaked.pem --key leaked.key --ca https://acme-v02.api.letsencrypt.org/directory --reason keyCompromise

` + cli.StoreRule

func revokeTool() cli.Tool {
	return cli.Tool{
		Name: "revoke", Usage: "revoke an MD's certificates (or a certificate file) at its CA", ArgsUsage: "[NAME]",
		Description: revokeDescription,
		Flags: append(cli.StoreFlags(), cli.ConfigFlag(),
			&ucli.StringFlag{Name: "reason", Aliases: []string{"r"}, Value: "unspecified", Usage: "RFC 5280 revocation `REASON` (name or code)"},
			&ucli.StringSliceFlag{Name: "spec", Usage: "revoke only the certificate of key `SPEC` (rsa, P-256, ...; repeatable)"},
			&ucli.StringFlag{Name: "cert", Usage: "revoke the certificate in `FILE` (PEM) instead of the MD's installed ones"},
			&ucli.StringFlag{Name: "key", Usage: "the private key of --cert, in `FILE` (PEM), to sign with it"},
			&ucli.StringFlag{Name: "by", Usage: "sign with the `account` or the certificate's own key (certificate-key)"},
			&ucli.StringFlag{Name: "account", Usage: "sign with the account accounts/`ID`"},
			&ucli.StringFlag{Name: "ca", Usage: "the ACME directory `URL` of a --cert revoked with its key, without NAME or --account"},
			&ucli.StringSliceFlag{Name: "ca-file", Usage: "also trust the PEM roots in `FILE` for the ACME HTTPS connection (repeatable)"},
		),
		Action: revokeAction,
	}
}

func revokeAction(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
	req, err := revokeRequest(c)
	if err != nil {
		return err
	}
	if req.Name != "" {
		if err := md.ValidateDomain(req.Name); err != nil {
			return cli.Usagef("MD name: %v", err)
		}
	}
	st, err := cli.OpenStore(ctx, c, env, log, nil)
	if err != nil {
		return err
	}
	req.Store, req.Log = st, log
	done, err := acmeflow.Revoke(ctx, req)
	enc := json.NewEncoder(env.Stdout)
	for _, r := range done {
		if werr := enc.Encode(r); werr != nil {
			return werr
		}
		log.Infof("revoked %s %s (%s) with the %s", r.Name, r.Serial, r.Reason, r.By)
	}
	return err
}

// revokeRequest checks the flags and arguments.
func revokeRequest(c *ucli.Context) (acmeflow.RevokeRequest, error) {
	req := acmeflow.RevokeRequest{
		Specs: c.StringSlice("spec"), CertFile: c.String("cert"), KeyFile: c.String("key"),
		Reason: c.String("reason"), By: c.String("by"), AccountID: c.String("account"), CAURL: c.String("ca"),
		HTTP: acmeflow.HTTPOptions{CAFiles: c.StringSlice("ca-file")}, LockWait: c.Duration("wait"),
		UserAgent: "mdtools-md-order/" + cli.Version,
	}
	switch c.NArg() {
	case 0:
	case 1:
		req.Name = c.Args().First()
	default:
		return req, cli.Usagef("revoke takes one MD name, got %d arguments", c.NArg())
	}
	if _, _, err := md.ParseRevocationReason(req.Reason); err != nil {
		return req, &cli.UsageError{Err: err}
	}
	switch {
	case req.Name == "" && req.CertFile == "":
		return req, cli.Usagef("revoke needs an MD name or --cert FILE")
	case req.By != "" && req.By != acmeflow.RevokeByAccount && req.By != acmeflow.RevokeByCertKey:
		return req, cli.Usagef("--by %q: want %s or %s", req.By, acmeflow.RevokeByAccount, acmeflow.RevokeByCertKey)
	case len(req.Specs) > 0 && req.CertFile != "":
		return req, cli.Usagef("--spec picks the MD's installed certificates; it makes no sense with --cert")
	case req.KeyFile != "" && req.CertFile == "":
		return req, cli.Usagef("--key is the key of --cert FILE; the MD's own keys are read from the store")
	case req.Name == "" && req.AccountID == "" && (req.KeyFile == "" || req.CAURL == ""):
		return req, cli.Usagef("--cert FILE without an MD name needs --account ID, or --key FILE and --ca URL")
	}
	return req, nil
}
