package cli

import (
	"time"

	"github.com/mdtools/mdtools/lib/store"
	ucli "github.com/urfave/cli/v2"
)

// StoreFlags are the flags of every command that uses the store.
func StoreFlags() []ucli.Flag {
	return []ucli.Flag{
		&ucli.StringFlag{Name: "store", Aliases: []string{"d"}, EnvVars: []string{"MD_STORE"},
			Usage: "store directory (`DIR`; default /var/lib/mdtools as root, else $XDG_STATE_HOME/mdtools)"},
		&ucli.DurationFlag{Name: "wait", Value: 5 * time.Second,
			Usage: "how long to wait for a store lock held by another run before exiting 3"},
	}
}

// OpenStore opens the store named by --store (or $MD_STORE, or the default).
func OpenStore(c *ucli.Context) (*store.Store, error) {
	dir := c.String("store")
	if dir == "" {
		dir = store.DefaultDir()
	}
	s, err := store.Open(dir)
	if err != nil {
		return nil, &Hinted{Err: err, Hint: "check --store / $MD_STORE and that this user may write there"}
	}
	return s, nil
}
