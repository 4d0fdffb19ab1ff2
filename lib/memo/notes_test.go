package memo

import (
	"testing"
	"time"
)

// TestNotes: a note is read back once; nothing noted is false.
func TestNotes(t *testing.T) {
	var n Notes[string]
	at := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, ok := n.Until("a"); ok {
		t.Error("an empty Notes has a note")
	}
	n.Note("a", at)
	if got, ok := n.Until("a"); !ok || !got.Equal(at) {
		t.Errorf("Until = %v %v, want %v", got, ok, at)
	}
	if _, ok := n.Until("a"); ok {
		t.Error("a note was read twice")
	}
}
