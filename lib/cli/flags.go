package cli

import (
	"context"
	"time"

	"github.com/mdtools/mdtools/lib/md"
	"github.com/mdtools/mdtools/lib/store"
	ucli "github.com/urfave/cli/v2"
)

// StoreFlags are the flags of every command that uses the store. $MD_STORE
// is read by StoreDir, not by the flag, so that an explicit --store can be
// told from the environment (see ChooseStore).
func StoreFlags() []ucli.Flag {
	return append([]ucli.Flag{
		&ucli.StringFlag{Name: "store", Aliases: []string{"d"},
			Usage: "the store `DIR` (or etcd://HOST:PORT,.../PREFIX) when no input records name one (records from md-parse do, and a different --store is then an error); default $MD_STORE, else /var/lib/mdtools as root, else $XDG_STATE_HOME/mdtools"},
		&ucli.DurationFlag{Name: "wait", Value: 5 * time.Second,
			Usage: "how long to wait for a store lock held by another run before exiting 3"},
	}, EtcdFlags()...)
}

// OpenStore opens, read-write, the store this run uses (see StoreDir).
func OpenStore(ctx context.Context, c *ucli.Context, env Env, log *Logger, recs []*md.Record) (*store.Store, error) {
	ch, err := StoreFor(c, env, log, recs)
	if err != nil {
		return nil, err
	}
	s, err := Open(ctx, ch)
	if err != nil {
		return nil, &Hinted{Err: err, Hint: "that is the " + ch.String() + "; check it and that this user may write there"}
	}
	return s, nil
}

// NameStore writes the store into records a command made from the store
// itself (--all), so that the next stage of a pipeline uses the same one.
func NameStore(recs []*md.Record, st *store.Store) {
	for _, r := range recs {
		if r.Store == "" {
			r.Store = st.String()
		}
	}
}
