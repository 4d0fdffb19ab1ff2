package challenge

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mdtools/mdtools/lib/md"
)

func TestReadTasks(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "testdata", "challenge", "tasks", "good.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	tasks, err := ReadTasks(bytes.NewReader(b), "good.jsonl", true)
	if err != nil {
		t.Fatal(err)
	}
	if len(tasks) != 3 || tasks[0].MD != "example.org" || tasks[0].Type != HTTP01 || tasks[0].Domain != "www.example.org" ||
		tasks[1].MD != "" || tasks[2].Type != DNS01 || tasks[2].KeyAuth != testKeyAuth {
		t.Fatalf("got %+v", tasks)
	}
	b, _ = os.ReadFile(filepath.Join("..", "..", "testdata", "challenge", "tasks", "teardown.jsonl"))
	if _, err := ReadTasks(bytes.NewReader(b), "teardown.jsonl", true); err == nil {
		t.Error("teardown-only tasks accepted for setup")
	}
	if tasks, err := ReadTasks(bytes.NewReader(b), "teardown.jsonl", false); err != nil || len(tasks) != 2 {
		t.Errorf("teardown tasks: %v %v", tasks, err)
	}
	b, _ = os.ReadFile(filepath.Join("..", "..", "testdata", "challenge", "tasks", "bad.jsonl"))
	for i, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if _, err := ReadTasks(strings.NewReader(line), "bad.jsonl", false); err == nil {
			t.Errorf("bad line %d accepted: %s", i+1, line)
		} else if !strings.HasPrefix(err.Error(), "bad.jsonl: line 1: ") {
			t.Errorf("error %q does not name the line", err)
		}
	}
	long := strings.Repeat(" ", MaxTaskLineBytes+1)
	if _, err := ReadTasks(strings.NewReader(long), "x", false); err == nil || !strings.Contains(err.Error(), "longer than") {
		t.Errorf("long line: %v", err)
	}
}

func TestStoredTasks(t *testing.T) {
	tasks := StoredTasks([]*md.Record{testRecord("a.test", "*.a.test", "www.a.test")})
	var got []string
	for _, tl := range tasks {
		got = append(got, tl.MD+" "+tl.Task.String())
	}
	if strings.Join(got, ",") != "a.test http-01:a.test,a.test http-01:www.a.test" {
		t.Fatalf("got %v", got)
	}
}

// FuzzReadTasks: whatever ReadTasks accepts is safe to use as a path
// component and as argv, and is accepted again after a round trip.
func FuzzReadTasks(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "testdata", "challenge", "tasks", "*.jsonl"))
	for _, p := range files {
		b, _ := os.ReadFile(p)
		f.Add(b)
		for _, l := range bytes.Split(b, []byte("\n")) {
			f.Add(l)
		}
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		tasks, err := ReadTasks(bytes.NewReader(in), "fuzz", false)
		if err != nil {
			return
		}
		for _, tl := range tasks {
			for _, s := range []string{tl.MD, tl.Domain, tl.Token} {
				// A token may start with '-' (base64url); names may not.
				if strings.ContainsAny(s, "/\\\x00 \t\n") || strings.Contains(s, "..") || s != tl.Token && strings.HasPrefix(s, "-") {
					t.Fatalf("unsafe value %q accepted in %+v", s, tl)
				}
			}
			if strings.ContainsAny(tl.KeyAuth, "/\\\x00 \t\n") {
				t.Fatalf("unsafe key authorization %q", tl.KeyAuth)
			}
			if err := tl.Task.Validate(false); err != nil {
				t.Fatalf("accepted task fails validation: %v", err)
			}
		}
	})
}
