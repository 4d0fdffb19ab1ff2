package ocsptest

import "testing"

// BenchStore starts a responder for a new test CA and fills a store in a
// temp dir with n installed MDs (see BuildStore; respond stores a current
// response for each). The responder is closed when tb ends.
func BenchStore(tb testing.TB, n int, respond bool) (dir string, resp *Responder) {
	tb.Helper()
	resp, err := Listen()
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(resp.Close)
	ca, err := NewCA("Bench CA")
	if err != nil {
		tb.Fatal(err)
	}
	if err := resp.SetIssuer(ca.Cert, ca.Key); err != nil {
		tb.Fatal(err)
	}
	dir = tb.TempDir()
	if err := BuildStore(tb.Context(), dir, n, ca, resp, respond); err != nil {
		tb.Fatal(err)
	}
	return dir, resp
}
