package apacheconf

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// condition evaluates <IfModule>, <IfDefine>, <IfFile>, <IfVersion>.
func (r *reader) condition(section, args string) (bool, string) {
	words := splitArgs(args)
	switch section {
	case "ifmodule", "ifdefine", "iffile", "ifdirective", "ifsection":
		if len(words) != 1 {
			return false, fmt.Sprintf("<%s> takes one argument", sectionTitle(section))
		}
		arg, neg := strings.CutPrefix(words[0], "!")
		if arg == "" {
			return false, fmt.Sprintf("<%s> requires an argument", sectionTitle(section))
		}
		var v bool
		switch section {
		case "ifmodule":
			v = r.modules[moduleKey(arg)]
		case "ifdefine":
			v = r.defines[arg]
		case "iffile":
			_, err := r.stat(r.relative(arg))
			v = err == nil
		case "ifdirective":
			v = knownDirective(arg)
		case "ifsection":
			v = knownSection(arg)
		}
		return v != neg, ""
	case "ifversion":
		return r.ifVersion(words)
	}
	return false, ""
}

func sectionTitle(s string) string {
	switch s {
	case "ifmodule":
		return "IfModule"
	case "ifdefine":
		return "IfDefine"
	case "iffile":
		return "IfFile"
	case "ifdirective":
		return "IfDirective"
	case "ifsection":
		return "IfSection"
	}
	return s
}

// ifVersion evaluates <IfVersion [[!]op] version> as mod_version.
func (r *reader) ifVersion(words []string) (bool, string) {
	var op, ver string
	switch len(words) {
	case 1:
		op, ver = "=", words[0]
		if strings.HasPrefix(ver, "/") {
			op = "~"
		}
	case 2:
		op, ver = words[0], words[1]
	default:
		return false, "<IfVersion> takes 1-2 arguments"
	}
	op, neg := strings.CutPrefix(op, "!")
	if op == "" {
		op = "="
	}
	cur := r.version
	var res bool
	switch op {
	case "~", "=~":
		re, err := regexp.Compile(strings.TrimSuffix(strings.TrimPrefix(ver, "/"), "/"))
		if err != nil {
			return false, fmt.Sprintf("<IfVersion> has an invalid regular expression: %v", err)
		}
		res = re.MatchString(fmt.Sprintf("%d.%d.%d", cur[0], cur[1], cur[2]))
	case "=", "==", "<", "<=", ">", ">=":
		if strings.HasPrefix(ver, "/") {
			re, err := regexp.Compile(strings.TrimSuffix(strings.TrimPrefix(ver, "/"), "/"))
			if err != nil || (op != "=" && op != "==") {
				return false, "<IfVersion> regular expressions need the = or ~ operator"
			}
			res = re.MatchString(fmt.Sprintf("%d.%d.%d", cur[0], cur[1], cur[2]))
			break
		}
		want := parseVersion(ver)
		if want == nil {
			return false, "Version appears to be invalid. It must have the format major[.minor[.patch]] where major, minor and patch are numbers."
		}
		c := compareVersion(cur, want, 3) // missing parts are 0, as mod_version
		switch op {
		case "=", "==":
			res = c == 0
		case "<":
			res = c < 0
		case "<=":
			res = c <= 0
		case ">":
			res = c > 0
		case ">=":
			res = c >= 0
		}
	default:
		return false, fmt.Sprintf("<IfVersion> has an unknown operator %q", op)
	}
	return res != neg, ""
}

func parseVersion(s string) []int {
	parts := strings.Split(s, ".")
	if len(parts) > 3 {
		return nil
	}
	v := make([]int, 3)
	for i, p := range parts {
		n, err := strconv.Atoi(p)
		if err != nil || n < 0 {
			return nil
		}
		v[i] = n
	}
	return v
}

// compareVersion compares the first n components.
func compareVersion(a, b []int, n int) int {
	for i := 0; i < n && i < 3; i++ {
		if a[i] != b[i] {
			if a[i] < b[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}
