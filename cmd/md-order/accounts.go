package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/mdtools/mdtools/lib/acmeflow"
	"github.com/mdtools/mdtools/lib/cli"
	"github.com/mdtools/mdtools/lib/store"
	ucli "github.com/urfave/cli/v2"
)

const accountsDescription = `Shows and manages the ACME accounts in the store (accounts/<id>/, mod_md's
layout). Without a command: list.

  list                 one JSON line per account: {"id", "ca-url", "url",
                       "contacts", "status", "eab-kid", "key", "mds",
                       "rollover-pending"}; --table for people
  show ID              that account's JSON object
  rollover ID          replace the account key at the CA (RFC 8555 7.3.5)
  update-contacts ID --contact mailto:admin@example.org
                       set the account's contacts at the CA (RFC 8555 7.3.2)
  deactivate ID --yes  deactivate the account at the CA (RFC 8555 7.3.6);
                       no MD uses it afterwards (status "deactivated")

"mds" are the MDs whose ca.account names the account. Keys and EAB HMACs
are never shown.

rollover stages the new key (accounts/<id>/account-new.pem) before asking
the CA and replaces account.pem only after the CA's answer: a run killed in
between leaves both keys, and the next rollover, or the next md-order that
uses the account, asks the CA which key it knows and finishes the switch.

md-order itself updates an account's contacts when an MD's MDContactEmail /
contact-email changed (instead of registering a new account), unless
another MD using the same account wants other contacts.

Examples:
  md-order accounts --table
  md-order accounts show ACME-acme-v02.api.letsencr-0000 | jq .mds
  md-order accounts rollover ACME-acme-v02.api.letsencr-0000
  md-order accounts deactivate --yes ACME-acme-v02.api.letsencr-0001

` + cli.StoreRule

func accountsTool() cli.Tool {
	common := func(extra ...ucli.Flag) []ucli.Flag {
		return append(append(cli.StoreFlags(), cli.ConfigFlag(),
			&ucli.StringSliceFlag{Name: "ca-file", Usage: "also trust the PEM roots in `FILE` for the ACME HTTPS connection (repeatable)"}), extra...)
	}
	list := cli.Tool{Name: "list", Usage: "list the accounts in the store", Description: accountsDescription,
		Flags:  common(&ucli.BoolFlag{Name: "table", Aliases: []string{"t"}, Usage: "an aligned table instead of JSON lines"}),
		Action: accountsList}
	t := list
	t.Name, t.Usage, t.ArgsUsage = "accounts", "show and manage the store's ACME accounts", "[list|show|rollover|update-contacts|deactivate] [OPTIONS] [ID]"
	t.Verbs = []cli.Tool{list,
		{Name: "show", Usage: "show one account", ArgsUsage: "ID", Description: accountsDescription, Flags: common(), Action: accountsShow},
		{Name: "rollover", Usage: "replace an account's key at its CA", ArgsUsage: "ID", Description: accountsDescription, Flags: common(), Action: accountsRollover},
		{Name: "update-contacts", Usage: "set an account's contacts at its CA", ArgsUsage: "ID", Description: accountsDescription,
			Flags: common(&ucli.StringSliceFlag{Name: "contact", Usage: "contact `URI` (mailto:...; a bare address gets mailto:; repeatable, required)"}), Action: accountsUpdate},
		{Name: "deactivate", Usage: "deactivate an account at its CA", ArgsUsage: "ID", Description: accountsDescription,
			Flags: common(&ucli.BoolFlag{Name: "yes", Usage: "really deactivate (it cannot be undone)"}), Action: accountsDeactivate},
	}
	return t
}

func accountOptions(c *ucli.Context) acmeflow.AccountOptions {
	return acmeflow.AccountOptions{HTTP: acmeflow.HTTPOptions{CAFiles: c.StringSlice("ca-file")},
		UserAgent: "mdtools-md-order/" + cli.Version, LockWait: c.Duration("wait")}
}

// accountArg is the one ID argument, checked before it becomes a path.
func accountArg(c *ucli.Context) (string, error) {
	if c.NArg() != 1 {
		return "", cli.Usagef("want one account ID (see md-order accounts list), got %d arguments", c.NArg())
	}
	id := c.Args().First()
	if err := store.CheckName(id); err != nil {
		return "", cli.Usagef("account ID: %v", err)
	}
	return id, nil
}

func accountsList(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
	if c.NArg() > 0 {
		return cli.Usagef("unknown accounts command %q: want list, show, rollover, update-contacts or deactivate", c.Args().First())
	}
	st, err := cli.OpenStore(ctx, c, env, log, nil)
	if err != nil {
		return err
	}
	infos, err := acmeflow.ListAccounts(ctx, st)
	if err != nil {
		return err
	}
	if c.Bool("table") {
		return accountsTable(env.Stdout, infos)
	}
	enc := json.NewEncoder(env.Stdout)
	for _, i := range infos {
		if err := enc.Encode(i); err != nil {
			return err
		}
	}
	return nil
}

func accountsTable(w io.Writer, infos []acmeflow.AccountInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTATUS\tCA\tCONTACTS\tKEY\tMDS")
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}
	for _, i := range infos {
		status := i.Status
		if i.RolloverPending {
			status += " (rollover pending)"
		}
		if i.Problem != "" {
			status = "unreadable: " + i.Problem
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", i.ID, dash(status), dash(i.CAURL), dash(strings.Join(i.Contacts, ",")), dash(i.Key), dash(strings.Join(i.MDs, ",")))
	}
	return tw.Flush()
}

func accountsShow(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
	id, err := accountArg(c)
	if err != nil {
		return err
	}
	st, err := cli.OpenStore(ctx, c, env, log, nil)
	if err != nil {
		return err
	}
	infos, err := acmeflow.ListAccounts(ctx, st)
	if err != nil {
		return err
	}
	for _, i := range infos {
		if i.ID == id {
			return writeJSON(env.Stdout, i)
		}
	}
	return fmt.Errorf("no account %s in the %s", id, st)
}

func accountsRollover(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
	id, err := accountArg(c)
	if err != nil {
		return err
	}
	st, err := cli.OpenStore(ctx, c, env, log, nil)
	if err != nil {
		return err
	}
	res, err := acmeflow.RolloverAccount(ctx, st, id, accountOptions(c))
	if err != nil {
		return err
	}
	return writeJSON(env.Stdout, res)
}

func accountsUpdate(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
	id, err := accountArg(c)
	if err != nil {
		return err
	}
	var contacts []string
	for _, s := range c.StringSlice("contact") {
		if !strings.Contains(s, ":") {
			s = "mailto:" + s
		}
		contacts = append(contacts, s)
	}
	if len(contacts) == 0 {
		return cli.Usagef("update-contacts needs --contact URI (e.g. mailto:admin@example.org)")
	}
	st, err := cli.OpenStore(ctx, c, env, log, nil)
	if err != nil {
		return err
	}
	f, err := acmeflow.UpdateContacts(ctx, st, id, contacts, accountOptions(c))
	if err != nil {
		return err
	}
	return writeJSON(env.Stdout, map[string]any{"id": id, "url": f.URL, "contacts": f.Contact})
}

func accountsDeactivate(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
	id, err := accountArg(c)
	if err != nil {
		return err
	}
	if !c.Bool("yes") {
		return &cli.UsageError{Err: &cli.Hinted{Err: fmt.Errorf("deactivating account %s cannot be undone: add --yes", id),
			Hint: "its MDs then use another account of their CA, or register a new one"}}
	}
	st, err := cli.OpenStore(ctx, c, env, log, nil)
	if err != nil {
		return err
	}
	f, err := acmeflow.DeactivateAccount(ctx, st, id, accountOptions(c))
	if err != nil {
		return err
	}
	return writeJSON(env.Stdout, map[string]any{"id": id, "url": f.URL, "status": f.Status})
}

func writeJSON(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}
