// Command md-parse: read Apache httpd or TOML config and print one MD record per managed domain.
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
		Name:  "md-parse",
		Usage: "read Apache httpd or TOML config and print one MD record per managed domain",
		Action: func(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
			return errors.New("not implemented yet (tracked in issue #3)")
		},
	}
}
