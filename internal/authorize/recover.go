package authorize

import (
	"context"
	"errors"
	"time"

	"go.uber.org/zap"

	"github.com/connect-secure-input/processor/internal/gateway"
	"github.com/connect-secure-input/processor/internal/store"
)

// Defaults of the recovery and retention loops.
const (
	DefaultRecoveryInterval = 15 * time.Second
	// DefaultRecoveryLease is how long a task holds a record it took over;
	// a recovery that fails is retried by any task after it.
	DefaultRecoveryLease = time.Minute
	recoveryBatch        = 50
	// DefaultRetentionInterval is how often each task deletes old records.
	DefaultRetentionInterval = time.Hour
	// DefaultRetentionBatch bounds one delete statement.
	DefaultRetentionBatch = 500
)

// RecoverOnce takes over every in-flight record whose owner's lease ended
// (the owner stopped or died) and resolves it through the gateway: an
// authorization the gateway never saw fails, a decline is recorded, and an
// approval the caller was never informed of is voided. It returns how many
// records it resolved.
func (s *Service) RecoverOnce(ctx context.Context) (int, error) {
	now := s.now()
	expired, err := s.store.ListExpired(ctx, now, recoveryBatch)
	if err != nil {
		return 0, err
	}
	resolved := 0
	for _, rec := range expired {
		taken, err := s.store.TakeOver(ctx, rec.IdempotencyKey, s.cfg.Owner, now, now.Add(DefaultRecoveryLease))
		if errors.Is(err, store.ErrLeaseLost) || errors.Is(err, store.ErrConflict) {
			continue // another task took it first, or it finished meanwhile
		}
		if err != nil {
			return resolved, err
		}
		s.recovered("taken_over")
		log := s.log.With(zap.String("authorization_id", taken.ID), zap.String("contact_id", taken.ContactID),
			zap.String("previous_owner", rec.Owner), zap.String("phase", string(taken.Phase)))
		log.Warn("recovering an authorization left in flight by another task")
		if s.resolve(ctx, log, taken) {
			resolved++
		}
	}
	return resolved, nil
}

func (s *Service) resolve(ctx context.Context, log *zap.Logger, rec store.Record) bool {
	if rec.Phase == store.PhaseVoidPending {
		if err := s.void(ctx, rec.IdempotencyKey, rec.GatewayReference, s.cfg.Owner, rec.FailureReason); err != nil {
			log.Error("recovery void failed; retrying after the lease", zap.Error(err))
			s.recovered("void_failed")
			return false
		}
		s.recovered("voided")
		return true
	}

	start := time.Now()
	result, err := s.gateway.Lookup(ctx, rec.IdempotencyKey)
	s.observeCall("lookup", start, result, err)
	from := []store.Phase{store.PhaseStarted, store.PhaseGatewaySent}
	switch {
	case errors.Is(err, gateway.ErrNotFound):
		_, err = s.store.Transition(ctx, store.Transition{Key: rec.IdempotencyKey, Owner: s.cfg.Owner, From: from, To: store.PhaseFailed, FailureReason: ReasonRecoveredNotSent})
		return s.recoveryStep(log, err, "not_sent")
	case err != nil:
		log.Error("recovery lookup failed; retrying after the lease", zap.Error(err))
		s.recovered("lookup_failed")
		return false
	}

	switch result.Status {
	case gateway.StatusDeclined:
		_, err = s.store.Transition(ctx, store.Transition{Key: rec.IdempotencyKey, Owner: s.cfg.Owner, From: from, To: store.PhaseDeclined,
			GatewayReference: result.GatewayReference, DeclineCode: string(result.DeclineCode)})
		return s.recoveryStep(log, err, "declined")
	case gateway.StatusFailed, gateway.StatusVoided:
		_, err = s.store.Transition(ctx, store.Transition{Key: rec.IdempotencyKey, Owner: s.cfg.Owner, From: from, To: store.PhaseFailed,
			GatewayReference: result.GatewayReference, FailureReason: ReasonGatewayFailed})
		return s.recoveryStep(log, err, "failed")
	}
	// Approved or pending at the gateway, but the caller never received a
	// final result: release the hold.
	if _, err := s.store.Transition(ctx, store.Transition{Key: rec.IdempotencyKey, Owner: s.cfg.Owner, From: from, To: store.PhaseVoidPending,
		GatewayReference: result.GatewayReference, FailureReason: ReasonRecoveredVoided}); err != nil {
		return s.recoveryStep(log, err, "void_pending")
	}
	if err := s.void(ctx, rec.IdempotencyKey, result.GatewayReference, s.cfg.Owner, ReasonRecoveredVoided); err != nil {
		log.Error("recovery void failed; retrying after the lease", zap.Error(err))
		s.recovered("void_failed")
		return false
	}
	log.Info("voided an authorization whose caller never received its outcome")
	s.recovered("voided")
	return true
}

func (s *Service) recoveryStep(log *zap.Logger, err error, step string) bool {
	if err != nil {
		log.Error("recovery could not record the outcome", zap.String("step", step), zap.Error(err))
		s.recovered("record_failed")
		return false
	}
	log.Info("recovered authorization", zap.String("step", step))
	s.recovered(step)
	return true
}

func (s *Service) recovered(step string) {
	if s.hooks != nil {
		s.hooks.Recovered(step)
	}
}

// RunRecovery runs RecoverOnce every interval until ctx ends.
func (s *Service) RunRecovery(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultRecoveryInterval
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		if _, err := s.RecoverOnce(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("recovery pass failed", zap.Error(err))
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// RunRetention deletes records older than age every interval until ctx
// ends, in batches, so a large backlog never holds one long transaction.
func (s *Service) RunRetention(ctx context.Context, age, interval time.Duration) {
	if interval <= 0 {
		interval = DefaultRetentionInterval
	}
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		cutoff := s.now().Add(-age)
		for ctx.Err() == nil {
			n, err := s.store.DeleteOlderThan(ctx, cutoff, DefaultRetentionBatch)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Error("retention pass failed", zap.Error(err))
				}
				break
			}
			if n > 0 {
				s.log.Info("deleted authorization records past retention", zap.Int("records", n), zap.Time("cutoff", cutoff))
			}
			if n < DefaultRetentionBatch {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}
