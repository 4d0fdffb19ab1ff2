// Command md-parse: read Apache httpd or TOML config and print one MD record per managed domain.
package main

import (
	"github.com/mdtools/mdtools/lib/cli"
)

func main() { cli.Main(tool()) }
