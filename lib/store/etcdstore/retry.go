package etcdstore

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// idempotent runs an etcd request that may be repeated without harm (a
// put of a whole value, a delete) within the request timeout. A request
// that failed as Unavailable (its member died while it was under way,
// the cluster was electing a new leader: "request timed out", "leader
// changed") is sent again, through any member, until it succeeds or the
// request timeout is spent: the etcd client itself repeats only what
// never left and reads, so without this a member's death fails a stage
// in a cluster that has its quorum. Transactions with conditions are not
// repeated: their first attempt may have been applied.
func (b *Backend) idempotent(ctx context.Context, req func(context.Context) error) error {
	rctx, cancel := b.ctx(ctx)
	defer cancel()
	for pause := 50 * time.Millisecond; ; pause = min(2*pause, time.Second) {
		err := req(rctx)
		if err == nil || !lostConnection(err) {
			return err
		}
		select {
		case <-rctx.Done():
			return err
		case <-time.After(pause):
		}
	}
}

// lostConnection: the request failed because its connection or the
// cluster's leader did (gRPC Unavailable).
// The client hands etcd's own errors ("request timed out, possibly due
// to previous leader failure", "leader changed") over as
// rpctypes.EtcdError, which has a Code but no GRPCStatus.
func lostConnection(err error) bool {
	var s interface{ GRPCStatus() *status.Status }
	if errors.As(err, &s) && s.GRPCStatus().Code() == codes.Unavailable {
		return true
	}
	var c interface{ Code() codes.Code }
	return errors.As(err, &c) && c.Code() == codes.Unavailable
}
