package memo

import (
	"sort"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Inputs records what reading a configuration depended on: the files it
// read, the paths whose existence or type it looked at, the directories
// it listed (an Include glob) and the environment variables it expanded.
// Changed tells a later run whether reading again could give another
// result. A nil *Inputs records nothing.
type Inputs struct {
	mu      sync.Mutex
	byName  map[string]int
	list    []Input
	settled bool
}

// Input is one thing a configuration read depended on.
type Input struct {
	Env  bool   // Name is an environment variable, else a path
	Name string // the path as opened (absolute or relative to the working directory)
	Sum  uint64 // identity of the path (stat, following links) or the variable's value
}

// NewInputs starts a record.
func NewInputs() *Inputs { return &Inputs{byName: map[string]int{}, settled: true} }

// Path records the identity of a path before it is read, stat'ed or
// listed: stat (following links, as the read does) says device, inode,
// mode, size, mtime and ctime, or the error. Taken before the read, a
// change during the read shows as a difference when the record is
// checked again before it is saved.
func (in *Inputs) Path(path string) {
	if in == nil {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	key := "p" + path
	if _, ok := in.byName[key]; ok {
		return
	}
	sum, settled := pathSum(path, time.Now().Add(-Margin).UnixNano())
	in.settled = in.settled && settled
	in.byName[key] = len(in.list)
	in.list = append(in.list, Input{Name: path, Sum: sum})
}

// Env records the value of an environment variable a read looked up.
func (in *Inputs) Env(name, value string, ok bool) {
	if in == nil {
		return
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	key := "e" + name
	if _, ok := in.byName[key]; ok {
		return
	}
	in.byName[key] = len(in.list)
	in.list = append(in.list, Input{Env: true, Name: name, Sum: envSum(value, ok)})
}

// List is the record, in the order first seen; settled is false when a
// path was modified within Margin of being looked at (a change in the
// same clock tick could go unseen, so the record must not be kept).
func (in *Inputs) List() (list []Input, settled bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	return append([]Input(nil), in.list...), in.settled
}

// Changed returns the first input that differs now (a path's identity, a
// variable's value), "" when none does.
func Changed(list []Input, getenv func(string) (string, bool)) string {
	for _, i := range list {
		if i.Env {
			if v, ok := getenv(i.Name); envSum(v, ok) != i.Sum {
				return "$" + i.Name
			}
			continue
		}
		if sum, _ := pathSum(i.Name, 0); sum != i.Sum {
			return i.Name
		}
	}
	return ""
}

// SortedEnv is the names of the variables in list, sorted (for messages
// and tests).
func SortedEnv(list []Input) []string {
	var out []string
	for _, i := range list {
		if i.Env {
			out = append(out, i.Name)
		}
	}
	sort.Strings(out)
	return out
}

func pathSum(path string, limit int64) (sum uint64, settled bool) {
	h := fnvString(fnvOffset, path)
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return fnvUint(h, uint64(errno(err))), true
	}
	mt := st.Mtim.Nano()
	for _, v := range []uint64{st.Dev, st.Ino, uint64(st.Mode), uint64(st.Size), uint64(mt), uint64(st.Ctim.Nano())} {
		h = fnvUint(h, v)
	}
	return h, mt <= limit
}

func envSum(value string, ok bool) uint64 {
	if !ok {
		return fnvUint(fnvOffset, 0)
	}
	return fnvString(fnvUint(fnvOffset, 1), value)
}
