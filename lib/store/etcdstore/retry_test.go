package etcdstore

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// TestLostConnection: the errors a member's death or a leader election
// gives a put, as the client hands them over, are repeated; others not.
func TestLostConnection(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{status.Error(codes.Unavailable, "error reading from server: connection reset by peer"), true},
		{rpctypes.Error(rpctypes.ErrGRPCTimeoutDueToLeaderFail), true},
		{rpctypes.Error(rpctypes.ErrGRPCTimeout), true},
		{rpctypes.Error(rpctypes.ErrGRPCLeaderChanged), true},
		{fmt.Errorf("writing: %w", rpctypes.Error(rpctypes.ErrGRPCNoLeader)), true},
		{rpctypes.Error(rpctypes.ErrGRPCRequestTooLarge), false},
		{rpctypes.Error(rpctypes.ErrGRPCPermissionDenied), false},
		{context.DeadlineExceeded, false},
		{errors.New("other"), false},
	} {
		if got := lostConnection(tc.err); got != tc.want {
			t.Errorf("lostConnection(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
