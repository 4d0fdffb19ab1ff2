package store

import (
	"fmt"
	"strings"
)

// checkName validates a set name before it becomes a path component: an MD
// name or DNS name (optionally "*."-prefixed), an account id such as
// "ACME-localhost-0000", an archive name "a.org.3", an IP address (IPv6
// in canonical form has ':'; RFC 8738 MDs are named after their first
// address), or "other". Only letters, digits, '.', '-', '_', ':' and a
// leading "*." are allowed; no '/', NUL, "..", or leading '.'.
func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty name", ErrBadName)
	}
	if len(name) > 255 {
		return fmt.Errorf("%w: name longer than 255 characters", ErrBadName)
	}
	rest := strings.TrimPrefix(name, "*.")
	if rest == "" || rest[0] == '.' || strings.Contains(rest, "..") {
		return fmt.Errorf("%w: %q", ErrBadName, name)
	}
	for i := 0; i < len(rest); i++ {
		if !safeByte(rest[i]) && rest[i] != ':' {
			return fmt.Errorf("%w: %q has character %q", ErrBadName, name, rest[i])
		}
	}
	return nil
}

// checkFile validates a file name within a set.
func checkFile(file string) error {
	if file == "" || file[0] == '.' && file != fileSuperseded || strings.Contains(file, "..") || len(file) > 255 {
		return fmt.Errorf("%w: file %q", ErrBadName, file)
	}
	for i := 0; i < len(file); i++ {
		if !safeByte(file[i]) {
			return fmt.Errorf("%w: file %q has character %q", ErrBadName, file, file[i])
		}
	}
	return nil
}

func safeByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_'
}

func checkGroup(g Group) error {
	if g == GroupRoot {
		return nil
	}
	for _, known := range Groups {
		if g == known {
			return nil
		}
	}
	return fmt.Errorf("%w: unknown group %q", ErrBadName, g)
}

// checkNames validates a (group, name, file) triple; name and file may be
// empty where the operation allows it.
func checkNames(g Group, name, file string) error {
	if err := checkGroup(g); err != nil {
		return err
	}
	if g == GroupRoot && name != "" {
		return fmt.Errorf("%w: root files have no set name", ErrBadName)
	}
	if g != GroupRoot && name == "" && file != "" {
		return fmt.Errorf("%w: file %q in %s needs a set name", ErrBadName, file, g)
	}
	if name != "" {
		if err := checkName(name); err != nil {
			return err
		}
	}
	if file != "" {
		return checkFile(file)
	}
	return nil
}

// CheckNames validates a (group, name, file) triple exactly as the
// filesystem backend does, for other backends (name and file may be empty
// where the operation allows it).
func CheckNames(g Group, name, file string) error { return checkNames(g, name, file) }

// CheckGroup validates a group name, for other backends.
func CheckGroup(g Group) error { return checkGroup(g) }

// CheckName validates a set name (an MD name, an account id, a lock name):
// names given on a command line, and names other backends store.
func CheckName(name string) error { return checkName(name) }

// IsKeyFile reports whether a store file holds a private key (the
// domains' privkey*.pem, challenge keys, account.pem): the filesystem
// backend keeps those owner-only, a network backend encrypts them.
func IsKeyFile(file string) bool {
	return strings.Contains(file, "privkey") || file == FileAccountKey
}
