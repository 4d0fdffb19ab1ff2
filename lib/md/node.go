package md

import (
	"fmt"
	"os"
	"strings"
	"sync/atomic"
)

// NodeEnv names the environment variable that names this node in a fleet
// sharing one store; the default is the host name.
const NodeEnv = "MD_NODE"

// maxNodeLen bounds a node name (a host name's 63-byte label, with room
// for a domain: DNS's 253).
const maxNodeLen = 253

// CheckNode validates a node name: 1 to 253 letters, digits, '.', '-'
// and '_', not starting with '.' or '-' (it goes into job logs, etcd lock
// values and messages, never into a path).
func CheckNode(name string) error {
	if name == "" || len(name) > maxNodeLen {
		return fmt.Errorf("node name %q: want 1 to %d characters", name, maxNodeLen)
	}
	if name[0] == '.' || name[0] == '-' {
		return fmt.Errorf("node name %q must not start with %q", name, name[0])
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Errorf("node name %q has character %q: use letters, digits, '.', '-', '_'", name, c)
		}
	}
	return nil
}

// NodeName is the name of this node: $MD_NODE when set (getenv reads the
// environment; an invalid value is an error), else the host name (one
// that is not a valid node name, or none, gives "").
func NodeName(getenv func(string) string) (string, error) {
	if v := getenv(NodeEnv); v != "" {
		if err := CheckNode(v); err != nil {
			return "", fmt.Errorf("$%s: %w", NodeEnv, err)
		}
		return v, nil
	}
	h, err := os.Hostname()
	if err != nil || CheckNode(h) != nil {
		return "", nil
	}
	return strings.ToLower(h), nil
}

var node atomic.Pointer[string]

// SetNode sets the node name AddLog records in job log entries (the
// commands set it once at start from NodeName).
func SetNode(name string) { node.Store(&name) }

// Node is the node name set with SetNode, or "".
func Node() string {
	if p := node.Load(); p != nil {
		return *p
	}
	return ""
}
