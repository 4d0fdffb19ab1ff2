// Command md-challenge: set up, tear down and serve ACME challenges (http-01, tls-alpn-01, dns-01).
package main

import (
	"context"
	"errors"

	"github.com/mdtools/mdtools/lib/cli"
	ucli "github.com/urfave/cli/v2"
)

func main() { cli.Main(tool()) }

func tool() cli.Tool {
	return cli.Tool{
		Name:  "md-challenge",
		Usage: "set up, tear down and serve ACME challenges (http-01, tls-alpn-01, dns-01)",
		Action: func(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
			return errors.New("not implemented yet (tracked in issue #4)")
		},
	}
}
