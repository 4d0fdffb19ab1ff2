package challenge

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/mdtools/mdtools/lib/event"
	"github.com/mdtools/mdtools/lib/md"
)

// DNS01Command is the dns-01 command of an MD, as mod_md picks it: the
// MD's own md.json "cmd-dns-01" (a command line, split as Apache splits
// MDChallengeDns01 with apr_tokenize_to_argv), else the global
// MDChallengeDns01 in settings."cmd-dns-01" (argv); nil when neither is set.
func DNS01Command(rec *md.Record) []string {
	if rec == nil {
		return nil
	}
	if argv := event.Tokenize(strings.TrimSpace(rec.CmdDNS01)); len(argv) > 0 {
		return argv
	}
	if rec.Settings != nil && len(rec.Settings.DNS01Cmd) > 0 && rec.Settings.DNS01Cmd[0] != "" {
		return append([]string(nil), rec.Settings.DNS01Cmd...)
	}
	return nil
}

// DNS01Version is the MD's MDChallengeDns01Version (1 unless 2 is set).
func DNS01Version(rec *md.Record) int {
	if rec != nil && rec.Settings != nil && rec.Settings.DNS01Version == 2 {
		return 2
	}
	return md.DefaultDNS01Version
}

// setupDNS01 runs "<cmd> setup <dns> <token>"; a nonzero exit fails it.
func (m *Manager) setupDNS01(ctx context.Context, rec *md.Record, t Task) error {
	cmd := DNS01Command(rec)
	if len(cmd) == 0 {
		return fmt.Errorf("%w: no dns-01 command (MDChallengeDns01) for %s", ErrNotApplicable, t.Domain)
	}
	argv := append(cmd, "setup", t.Domain, DNS01Value(t.KeyAuth))
	return m.runDNS01(ctx, argv, "setup")
}

// teardownDNS01 runs "<cmd> teardown <dns>" (version 1) or "<cmd>
// teardown <dns> <token>" (version 2).
func (m *Manager) teardownDNS01(ctx context.Context, rec *md.Record, t Task) error {
	cmd := DNS01Command(rec)
	if len(cmd) == 0 {
		return fmt.Errorf("%w: no dns-01 command (MDChallengeDns01) for %s", ErrNotApplicable, t.Domain)
	}
	argv := append(cmd, "teardown", t.Domain)
	if DNS01Version(rec) == 2 {
		if t.KeyAuth == "" {
			return errors.New("dns-01 teardown (MDChallengeDns01Version 2) needs the key authorization")
		}
		argv = append(argv, DNS01Value(t.KeyAuth))
	}
	return m.runDNS01(ctx, argv, "teardown")
}

func (m *Manager) runDNS01(ctx context.Context, argv []string, what string) error {
	res := event.Run(ctx, argv, m.opts.CommandTimeout)
	event.LogOutput(m.log, argv[0], res)
	switch {
	case res.Err != nil:
		return fmt.Errorf("dns-01 %s command: %w", what, res.Err)
	case res.ExitCode != 0:
		return fmt.Errorf("dns-01 %s command %s returned exit code %d", what, argv[0], res.ExitCode)
	}
	return nil
}
