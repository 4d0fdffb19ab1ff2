package apacheconf

import (
	"strconv"
	"strings"
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

// parseWindow is md_timeslice_parse with mod_md's texts.
func parseWindow(v string, limit bool) (md.Timeslice, string) {
	if d, err := md.ParseDuration(v, md.Day); err == nil {
		return md.Timeslice{Duration: d}, ""
	}
	i := 0
	if i < len(v) && (v[i] == '-' || v[i] == '+') {
		i++
	}
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	if i < len(v) && v[i] == '%' {
		n, err := strconv.Atoi(v[:i])
		if err != nil {
			return md.Timeslice{}, "has unrecognized format"
		}
		if n < 0 {
			return md.Timeslice{}, "percent must be less than 100"
		}
		if limit && n >= 100 {
			return md.Timeslice{}, "a length of 100% or more is not allowed."
		}
		return md.Timeslice{Percent: n, IsPercent: true}, ""
	}
	return md.Timeslice{}, "has unrecognized format"
}

func setWindow(warn bool) func(*walker, *node, []string, string) string {
	return func(w *walker, n *node, argv []string, _ string) string {
		name := mdDirectives[n.key].name
		if err := w.check(name, locAll); err != "" {
			return err
		}
		ts, err := parseWindow(argv[0], true)
		if err != "" {
			return name + " " + err
		}
		if warn {
			w.props().warnWindow = &ts
		} else {
			w.props().renewWindow = &ts
		}
		return ""
	}
}

func setOCSPKeep(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDStaplingKeepResponse", locAll); err != "" {
		return err
	}
	ts, err := parseWindow(argv[0], false)
	if err != "" {
		return "MDStaplingKeepResponse " + err
	}
	w.cfg.mc.ocspKeep = ts.String()
	return ""
}

func setOCSPRenew(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDStaplingRenewWindow", locAll); err != "" {
		return err
	}
	ts, err := parseWindow(argv[0], false)
	if err == "" && ts.IsPercent && ts.Percent >= 100 {
		err = "with a length of 100% or more is not allowed."
	}
	if err != "" {
		return "MDStaplingRenewWindow " + err
	}
	w.cfg.mc.ocspRenew = ts.String()
	return ""
}

func setActivationDelay(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDActivationDelay", locNotMD); err != "" {
		return err
	}
	d, err := md.ParseDuration(argv[0], md.Day)
	if err != nil {
		return "unrecognized duration format"
	}
	w.cfg.mc.activationDelay = md.FormatDuration(d)
	return ""
}

func parseDurationArg(v string, unit time.Duration) (time.Duration, bool) {
	d, err := md.ParseDuration(v, unit)
	return d, err == nil
}

func setRetryDelay(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDRetryDelay", locNotMD); err != "" {
		return err
	}
	d, ok := parseDurationArg(argv[0], time.Second)
	if !ok {
		return "unrecognized duration format"
	}
	if d <= 0 {
		return "minimum delay must be greater than 0"
	}
	w.cfg.mc.retryDelay = md.FormatDuration(d)
	return ""
}

func setRetryFailover(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDRetryFailover", locNotMD); err != "" {
		return err
	}
	v := argv[0]
	i := 0
	if i < len(v) && (v[i] == '-' || v[i] == '+') {
		i++
	}
	for i < len(v) && v[i] >= '0' && v[i] <= '9' {
		i++
	}
	n64, _ := strconv.ParseInt(v[:i], 10, 32)
	if n64 <= 0 {
		return "invalid argument, must be a number > 0"
	}
	w.cfg.mc.retryFailover = int(n64)
	return ""
}

func setStoreLocks(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDStoreLocks", locNotMD); err != "" {
		return err
	}
	switch strings.ToLower(argv[0]) {
	case "on":
		w.cfg.mc.storeLocks = "on"
	case "off":
		w.cfg.mc.storeLocks = "off"
	default:
		d, ok := parseDurationArg(argv[0], time.Second)
		if !ok {
			return "neither 'on', 'off' or a duration specified"
		}
		if d == 0 {
			w.cfg.mc.storeLocks = "off"
		} else {
			w.cfg.mc.storeLocks = md.FormatDuration(d)
		}
	}
	return ""
}

func setInitialDelay(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDInitialDelay", locNotMD); err != "" {
		return err
	}
	d, ok := parseDurationArg(argv[0], time.Second)
	if !ok {
		return "unrecognized duration format"
	}
	if d < 0 {
		return "initial delay must not be negative"
	}
	w.cfg.mc.initialDelay = md.FormatDuration(d)
	return ""
}

func setCheckInterval(w *walker, n *node, argv []string, _ string) string {
	if err := w.check("MDCheckInterval", locNotMD); err != "" {
		return err
	}
	d, ok := parseDurationArg(argv[0], time.Second)
	if !ok {
		return "unrecognized duration format"
	}
	if d < time.Second {
		return "check interval cannot be less than one second"
	}
	w.cfg.mc.checkInterval = md.FormatDuration(d)
	return ""
}
