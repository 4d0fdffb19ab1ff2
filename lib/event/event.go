// Package event raises mod_md's events (renewing, challenge-setup:TYPE:DNS,
// renewed, installed, expiring, errored, ocsp-renewed, ocsp-errored): it
// runs MDMessageCmd / MDNotifyCmd with mod_md's exact argv, without a shell,
// with a timeout and stdin closed, applies mod_md's rate limits, and logs
// every run in the MD's job log.
package event

import (
	"context"
	"errors"
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

// Notifier runs the event commands of one configuration.
type Notifier struct {
	settings *md.Settings
}

// New returns a Notifier for the settings' MessageCmd and NotifyCmd.
func New(settings *md.Settings) *Notifier { return &Notifier{settings: settings} }

// Raise signals reason for the MD named name at time now. It honours the
// rate limit recorded in job, runs the commands, and logs the outcome in
// job ("message-<reason>", "message-error", "notify-error"). The returned
// error is the command's failure (a veto for "renewing").
func (n *Notifier) Raise(ctx context.Context, job *md.Job, reason, name string, now time.Time) error {
	return errors.New("event: not implemented yet")
}
