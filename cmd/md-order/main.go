// Command md-order: obtain or renew certificates from an ACME CA into the store's staging area.
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
		Name:  "md-order",
		Usage: "obtain or renew certificates from an ACME CA into the store's staging area",
		Action: func(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
			return errors.New("not implemented yet (tracked in issue #4)")
		},
	}
}
