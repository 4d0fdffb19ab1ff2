package status

import (
	"testing"
)

// TestChooseView: JSON in a pipe (today's output kept), the table on a
// terminal, the per-MD text for NAME on a terminal; flags win.
func TestChooseView(t *testing.T) {
	tests := []struct {
		name  string
		flags []string
		tty   bool
		named bool
		want  View
	}{
		{"pipe", nil, false, false, ViewJSON},
		{"pipe NAME", nil, false, true, ViewJSON},
		{"terminal", nil, true, false, ViewTable},
		{"terminal NAME", nil, true, true, ViewDetail},
		{"terminal NAME --json", []string{"json"}, true, true, ViewJSON},
		{"terminal NAME --table", []string{"table"}, true, true, ViewTable},
		{"pipe NAME --text", []string{"text"}, false, true, ViewDetail},
		{"pipe --text", []string{"text"}, false, false, ViewDetail},
		{"terminal --plan", []string{"plan"}, true, false, ViewPlanText},
		{"pipe --plan --table", []string{"plan", "table"}, false, false, ViewPlanText},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			set := func(f string) bool {
				for _, x := range tc.flags {
					if x == f {
						return true
					}
				}
				return false
			}
			if got, _ := ChooseView(set, tc.tty, tc.named); got != tc.want {
				t.Errorf("view %d; want %d", got, tc.want)
			}
		})
	}
}
