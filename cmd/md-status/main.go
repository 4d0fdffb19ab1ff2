// Command md-status: report every managed domain: JSON, table, HTML, metrics.
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
		Name:  "md-status",
		Usage: "report every managed domain: JSON, table, HTML, metrics",
		Action: func(ctx context.Context, c *ucli.Context, env cli.Env, log *cli.Logger) error {
			return errors.New("not implemented yet (tracked in issue #7)")
		},
	}
}
