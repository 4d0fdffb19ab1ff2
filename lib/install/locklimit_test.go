package install

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

// TestStagedBeyondLockLimitWait: with more staged sets than a run may
// lock (maxLocks, from the open file limit), a run activates the first
// ones in name order and leaves the others staged, saying why, without
// failing any; the next runs activate them. Before, every MD failed with
// "too many open files" once the descriptors ran out.
func TestStagedBeyondLockLimitWait(t *testing.T) {
	old := maxLocks
	maxLocks = func() int { return 2 }
	t.Cleanup(func() { maxLocks = old })
	st, _ := openStore(t)
	var recs []*md.Record
	for i := 1; i <= 5; i++ {
		rec := testRecord(fmt.Sprintf("m%d.test", i), md.KeySpecs{ecSpec})
		stageSet(t, st, rec, freshCreds(t, rec))
		recs = append(recs, rec)
	}
	now := time.Now()
	for round, want := range []string{"aannn", "--aan", "----a"} {
		if err := run(t, st, now, recs...); err != nil {
			t.Fatalf("run %d: %v", round+1, err)
		}
		for i, rec := range recs {
			in := rec.Install
			switch want[i] {
			case 'a':
				if rec.Error != nil || in.Action != "activated" {
					t.Errorf("run %d: %s: %+v %+v; want activated", round+1, rec.Name, in, rec.Error)
				}
			case 'n':
				if rec.Error != nil || in.Action != "none" || !strings.Contains(in.Reason, "left for the next run") {
					t.Errorf("run %d: %s: %+v %+v; want left for the next run", round+1, rec.Name, in, rec.Error)
				}
			case '-':
				if rec.Error != nil || in.Action != "none" || in.Reason != "" {
					t.Errorf("run %d: %s: %+v %+v; want nothing to do", round+1, rec.Name, in, rec.Error)
				}
			}
		}
	}
}
