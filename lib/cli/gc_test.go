package cli

import (
	"runtime/debug"
	"testing"
)

// A run that raised the collector's target comes back to 100 once it has
// made manyAnswers new memo answers; a lower target stays.
func TestNoteAnswerLowersRaisedTarget(t *testing.T) {
	t.Setenv("GOGC", "")
	orig := debug.SetGCPercent(100)
	defer debug.SetGCPercent(orig)
	for _, tc := range []struct{ set, want int }{{200, 100}, {25, 25}, {100, 100}} {
		newAnswers.Store(0)
		debug.SetGCPercent(tc.set)
		for range manyAnswers - 1 {
			noteAnswer()
		}
		if got := debug.SetGCPercent(tc.set); got != tc.set {
			t.Fatalf("target %d changed to %d before %d answers", tc.set, got, manyAnswers)
		}
		noteAnswer()
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("target %d after %d answers: %d, want %d", tc.set, manyAnswers, got, tc.want)
		}
	}
}
