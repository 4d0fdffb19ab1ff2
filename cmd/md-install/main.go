// Command md-install: activate staged certificates, write web-server files, reload and verify.
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
		Name:  "md-install",
		Usage: "activate staged certificates, write web-server files, reload and verify",
		Action: func(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
			return errors.New("not implemented yet (tracked in issue #5)")
		},
	}
}
