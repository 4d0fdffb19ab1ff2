// Command md-order: obtain or renew certificates from an ACME CA into the store's staging area.
package main

import (
	"github.com/mdtools/mdtools/lib/acmeflow"
	"github.com/mdtools/mdtools/lib/cli"
)

func main() { cli.Main(acmeflow.Tool()) }

func tool() cli.Tool { return acmeflow.Tool() }
