// Package event raises mod_md's events (renewing, challenge-setup:TYPE:DNS,
// renewed, installed, expiring, errored, ocsp-renewed, ocsp-errored, and
// mdtools' revoked): it
// runs MDMessageCmd / MDNotifyCmd with mod_md's exact argv, without a shell,
// with a timeout and stdin closed, applies mod_md's rate limits, and logs
// every run in the MD's job log.
//
// argv, as mod_md builds it:
//
//	MDMessageCmd  <cmd> [args...] <reason> <md-name>     every event
//	MDNotifyCmd   <cmd> [args...] <md-name>              "renewed" only, first
//
// A successful run (or an event with no command configured) logs a
// "message-<reason>" entry in the job; the rate limits are measured from the
// newest such entry. A failed MDNotifyCmd logs "notify-error" (status: the
// problem urn:org:apache:httpd:log:AH10108:), a failed MDMessageCmd logs
// "message-error" (status: the reason, as mod_md's md_job_log_append call),
// both with the detail "MDMessageCmd <cmd> failed with exit code N.".
package event

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/logger"
	"github.com/mdtools/mdtools/lib/md"
)

// Event reasons.
const (
	Renewing       = "renewing"
	Renewed        = "renewed"
	Installed      = "installed"
	Expiring       = "expiring"
	Errored        = "errored"
	OCSPRenewed    = "ocsp-renewed"
	OCSPErrored    = "ocsp-errored"
	Revoked        = "revoked"         // mdtools: md-order revoke revoked a live certificate; once per certificate
	ChallengeSetup = "challenge-setup" // "challenge-setup:<type>:<dns>"
)

// Problems of failed commands, as mod_md reports them (md.StageError.Problem).
const (
	ProblemNotifyCmd  = "urn:org:apache:httpd:log:AH10108:"
	ProblemMessageCmd = "urn:org:apache:httpd:log:AH10109:"
)

// DefaultTimeout bounds one command run.
const DefaultTimeout = 60 * time.Second

// RateLimits are mod_md's minimum intervals between two successful
// notifications for the same reason and MD (mod_md.c notify_rates).
// challenge-setup events are not limited.
var RateLimits = map[string]time.Duration{
	Renewing:    time.Hour,
	Renewed:     24 * time.Hour,
	Installed:   24 * time.Hour,
	Expiring:    24 * time.Hour,
	Errored:     time.Hour,
	OCSPRenewed: 24 * time.Hour,
	OCSPErrored: time.Hour,
	Revoked:     0, // once per certificate (md-order marks it notified)
}

// Notifier runs the event commands of one configuration. Set Timeout and
// Log before the first Raise; it is then safe for concurrent use on
// different jobs.
type Notifier struct {
	settings *md.Settings
	// Timeout bounds each command run (DefaultTimeout when 0).
	Timeout time.Duration
	// Log gets each command's stderr (and stdout) lines and rate-limit
	// decisions; nil is silent.
	Log logger.Logger
	// Env, when set, adds variables to each command's environment
	// (PathEnv: the MD's certificate and key files).
	Env func(reason, name string) []string
}

// New returns a Notifier for the settings' MessageCmd and NotifyCmd.
func New(settings *md.Settings) *Notifier { return &Notifier{settings: settings} }

// ValidateReason checks an event reason before it becomes argv: one of the
// reasons above, or "challenge-setup:<type>:<dns>" with a known challenge
// type and a valid DNS name.
func ValidateReason(reason string) error {
	if _, ok := RateLimits[reason]; ok {
		return nil
	}
	rest, ok := strings.CutPrefix(reason, ChallengeSetup+":")
	if !ok {
		return fmt.Errorf("unknown event reason %.60q", reason)
	}
	typ, dns, ok := strings.Cut(rest, ":")
	switch {
	case !ok:
		return fmt.Errorf("event %.60q: want challenge-setup:<type>:<dns>", reason)
	case typ != "http-01" && typ != "tls-alpn-01" && typ != "dns-01" && typ != "dns-persist-01":
		return fmt.Errorf("event %.60q: unknown challenge type %q", reason, typ)
	case md.IsWildcard(dns):
		return fmt.Errorf("event %.60q: wildcard in challenge domain", reason)
	}
	if err := md.ValidateDomain(dns); err != nil {
		return fmt.Errorf("event %.60q: %w", reason, err)
	}
	return nil
}

// Raise signals reason for the MD named name at time now. It honours the
// rate limit recorded in job, runs the commands, and logs the outcome in
// job ("message-<reason>", "message-error", "notify-error"). The returned
// error is the command's failure (a veto for "renewing"): an
// *md.StageError with mod_md's problem and detail, Stage left empty for
// the caller's rec.Fail. job may be nil (no rate limit, no log). An invalid
// reason or name is an error before anything runs.
func (n *Notifier) Raise(ctx context.Context, job *md.Job, reason, name string, now time.Time) error {
	if err := ValidateReason(reason); err != nil {
		return err
	}
	if err := md.ValidateDomain(name); err != nil {
		return fmt.Errorf("event %s: md name: %w", reason, err)
	}
	if md.IsWildcard(name) {
		return fmt.Errorf("event %s: md name %q is a wildcard", reason, name)
	}
	log := logger.Or(n.Log)
	logType := "message-" + reason
	if limit := RateLimits[reason]; limit > 0 && job != nil {
		if last, ok := job.LastEntry(logType); ok && now.Sub(last.When.Time) < limit {
			log.Infof("%s: rate limiting notification about '%s' (last at %s)", name, reason, last.When.Format(time.RFC3339))
			return nil
		}
	}
	var s md.Settings
	if n != nil && n.settings != nil {
		s = *n.settings
	}
	if reason == Renewed && len(s.NotifyCmd) > 0 {
		argv := append(append([]string(nil), s.NotifyCmd...), name)
		if res := n.run(ctx, log, argv, reason, name); res.Failed() {
			err := &md.StageError{Problem: ProblemNotifyCmd,
				Detail: fmt.Sprintf("MDNotifyCmd %s failed with exit code %d.", strings.Join(s.NotifyCmd, " "), res.ExitCode)}
			if job != nil {
				job.AddLog(now, "notify-error", err.Problem, err.Detail)
			}
			return err
		}
	}
	if len(s.MessageCmd) > 0 {
		argv := append(append([]string(nil), s.MessageCmd...), reason, name)
		if res := n.run(ctx, log, argv, reason, name); res.Failed() {
			err := &md.StageError{Problem: ProblemMessageCmd,
				Detail: fmt.Sprintf("MDMessageCmd %s failed with exit code %d.", strings.Join(s.MessageCmd, " "), res.ExitCode)}
			if job != nil {
				job.AddLog(now, "message-error", reason, err.Detail)
			}
			return err
		}
	}
	if job != nil {
		job.AddLog(now, logType, "", "")
	}
	return nil
}

// run executes one command and logs its output.
func (n *Notifier) run(ctx context.Context, log logger.Logger, argv []string, reason, name string) Result {
	timeout := DefaultTimeout
	if n != nil && n.Timeout > 0 {
		timeout = n.Timeout
	}
	var env []string
	if n != nil && n.Env != nil {
		env = n.Env(reason, name)
	}
	res := RunEnv(ctx, argv, timeout, env)
	LogOutput(log, argv[0], res)
	if res.Err != nil {
		log.Warnf("cmd(%s): %v", argv[0], res.Err)
	} else if res.ExitCode != 0 {
		log.Warnf("cmd(%s): exit code %d", argv[0], res.ExitCode)
	}
	return res
}

// LogOutput logs a command's stderr and stdout line by line, as mod_md
// logs stderr ("cmd(<path>) stderr: ..."): as warnings when the command
// failed, else as information.
func LogOutput(log logger.Logger, cmd string, res Result) {
	for _, stream := range []struct {
		name string
		data []byte
	}{{"stderr", res.Stderr}, {"stdout", res.Stdout}} {
		for _, line := range strings.Split(strings.TrimRight(string(stream.data), "\n"), "\n") {
			switch {
			case line == "":
			case res.Failed() && stream.name == "stderr":
				log.Warnf("cmd(%s) %s: %s", cmd, stream.name, line)
			default:
				log.Infof("cmd(%s) %s: %s", cmd, stream.name, line)
			}
		}
	}
}
