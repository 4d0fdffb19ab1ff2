package main

import (
	"testing"

	"github.com/mdtools/mdtools/lib/status"
)

// TestChooseView: JSON in a pipe (today's output kept), the table on a
// terminal, the per-MD text for NAME on a terminal; flags win.
func TestChooseView(t *testing.T) {
	tests := []struct {
		name  string
		flags []string
		tty   bool
		named bool
		want  status.View
	}{
		{"pipe", nil, false, false, status.ViewJSON},
		{"pipe NAME", nil, false, true, status.ViewJSON},
		{"terminal", nil, true, false, status.ViewTable},
		{"terminal NAME", nil, true, true, status.ViewDetail},
		{"terminal NAME --json", []string{"json"}, true, true, status.ViewJSON},
		{"terminal NAME --table", []string{"table"}, true, true, status.ViewTable},
		{"pipe NAME --text", []string{"text"}, false, true, status.ViewDetail},
		{"pipe --text", []string{"text"}, false, false, status.ViewDetail},
		{"terminal --plan", []string{"plan"}, true, false, status.ViewPlanText},
		{"pipe --plan --table", []string{"plan", "table"}, false, false, status.ViewPlanText},
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
			if got, _ := chooseView(set, tc.tty, tc.named); got != tc.want {
				t.Errorf("view %d; want %d", got, tc.want)
			}
		})
	}
}
