package status

import (
	"strings"
	"testing"
	"time"

	"github.com/mdtools/mdtools/lib/md"
)

// TestServerStatusArithmetic checks the seconds-from-now lines against
// mod_md's arithmetic (mod_md_status.c print_time): the time printed is read
// back from mod_md's JSON (whole seconds), now is exact, and the difference
// is truncated toward zero. A missing last problem prints "(null)".
func TestServerStatusArithmetic(t *testing.T) {
	T := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	at := T.Add(300 * time.Millisecond) // mod_md's apr_time_now()
	job := func(nextRun time.Time, last string) *Job {
		j := &Job{Job: md.Job{Name: "a.test", NextRun: md.NewTime(nextRun), Errors: 1,
			Last: &md.JobResult{Status: 22, StatusDescription: "Invalid argument"}}}
		raw, err := ParseObject([]byte(`{"name":"a.test","last":` + last + `}`))
		if err != nil {
			t.Fatal(err)
		}
		j.Raw = raw
		if strings.Contains(last, `"problem":"x"`) {
			j.Last.Problem = "x"
		}
		return j
	}
	tests := []struct {
		name     string
		renewAt  time.Time
		job      *Job
		want     []string
		wantNone []string
	}{
		{name: "renew in one day", renewAt: T.Add(24 * time.Hour),
			want: []string{"ActivityRenew: 86399\n"}},
		{name: "renew-at with a fraction is read back rounded down", renewAt: T.Add(24*time.Hour + 900*time.Millisecond),
			want: []string{"ActivityRenew: 86399\n"}},
		{name: "renew due this second", renewAt: T,
			want: []string{"Activity: Pending\n"}, wantNone: []string{"ActivityRenew"}},
		{name: "next run in the next second", renewAt: T, job: job(T.Add(time.Second), `{"status":22,"problem":"x"}`),
			want: []string{"ActivityNextRun: 0\n", "ActivityLastProblem: x\n"}},
		{name: "next run this second", renewAt: T, job: job(T, `{"status":22}`),
			want: []string{"ActivityLastProblem: (null)\n"}, wantNone: []string{"NextRun"}},
		{name: "empty problem is not null", renewAt: T, job: job(T.Add(90*time.Second), `{"status":22,"problem":""}`),
			want: []string{"ActivityLastProblem: \n", "ActivityNextRun: 89\n"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rep := &Report{Name: "a.test", MD: &md.MD{Name: "a.test", Domains: []string{"a.test"}, State: md.StateComplete},
				RenewAt: tc.renewAt, Job: tc.job, Now: at.Truncate(time.Second), At: at}
			ss := &ServerStatus{}
			ss.Add(rep)
			var b strings.Builder
			if _, err := ss.WriteTo(&b); err != nil {
				t.Fatal(err)
			}
			for _, w := range tc.want {
				if !strings.Contains(b.String(), "ManagedDomain[0]"+w) {
					t.Errorf("got:\n%s\nwant a line ManagedDomain[0]%q", b.String(), w)
				}
			}
			for _, w := range tc.wantNone {
				if strings.Contains(b.String(), w) {
					t.Errorf("got:\n%s\nwant no %q", b.String(), w)
				}
			}
		})
	}
}

// TestServerStatusRefreshSeconds: a stapling refresh in the past prints a
// negative count, truncated toward zero as C's division.
func TestServerStatusRefreshSeconds(t *testing.T) {
	T := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	at := T.Add(700 * time.Millisecond)
	w := md.MustTimeslice("50%")
	from, until := T.Add(-4*time.Hour), T.Add(2*time.Hour) // refresh at T-1h
	rep := &Report{Name: "a.test", MD: &md.MD{Name: "a.test", Domains: []string{"a.test"}, State: md.StateComplete, Stapling: true},
		Certs: []Cert{{Key: "rsa", OCSP: &OCSP{ID: "ab", Status: "good", Valid: md.Period{From: md.NewTime(from), Until: md.NewTime(until)}}}},
		Now:   at.Truncate(time.Second), At: at}
	ss := &ServerStatus{Window: w}
	ss.Add(rep)
	var b strings.Builder
	if _, err := ss.WriteTo(&b); err != nil {
		t.Fatal(err)
	}
	if want := "ManagedStapling[0]ActivityRefresh: -3600\n"; !strings.Contains(b.String(), want) {
		t.Errorf("got:\n%s\nwant %q", b.String(), want)
	}
}
