package authorize

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"go.uber.org/zap"

	"github.com/connect-secure-input/processor/internal/card"
	"github.com/connect-secure-input/processor/internal/gateway"
	"github.com/connect-secure-input/processor/internal/store"
)

// run is the background part of one authorization: it calls the gateway
// until a response or the vault deadline, records the outcome, wipes the card
// data, and voids an outcome that is still unknown at the deadline.
func (s *Service) run(rec store.Record, id string, deadline time.Time, expiry card.Expiry) {
	log := s.log.With(zap.String("authorization_id", id), zap.String("contact_id", rec.ContactID))
	ctx, cancel := context.WithDeadline(s.baseCtx, deadline)
	defer cancel()
	// The vault entry is wiped on every way out, a panic included; the
	// deferred recover below runs first and keeps the process alive.
	defer s.vault.Delete(id)
	defer func() {
		if r := recover(); r != nil {
			log.Error("authorization panicked; the record is left for recovery", zap.String("panic_type", fmt.Sprintf("%T", r)), zap.Stack("stack"))
		}
	}()

	_, err := s.store.Transition(ctx, store.Transition{
		Key: rec.IdempotencyKey, Owner: s.cfg.Owner, From: []store.Phase{store.PhaseStarted}, To: store.PhaseGatewaySent,
	})
	if err != nil {
		log.Error("record gateway_sent failed; the gateway was not called and recovery will fail the record", zap.Error(err))
		return
	}

	values, err := s.vault.Get(id)
	if err != nil || len(values) == 0 {
		log.Error("card data left the vault before the gateway call", zap.Error(err))
		s.finish(log, rec, store.Transition{To: store.PhaseFailed, FailureReason: ReasonCardDataUnavailable})
		return
	}
	req := gateway.Request{
		Amount:            rec.Amount,
		Currency:          rec.Currency,
		Card:              gateway.Card{PAN: values[0], ExpiryMonth: expiry.Month, ExpiryYear: expiry.Year},
		IdempotencyKey:    rec.IdempotencyKey,
		ContactID:         rec.ContactID,
		MerchantReference: rec.Reference,
		MOTO:              s.cfg.MOTO,
		CaptureMode:       s.cfg.CaptureMode,
	}
	if len(values) > 1 {
		req.Card.CVV = values[1]
	}

	result, reached, err := s.authorizeWithRetry(ctx, log, req)
	// The gateway has responded or the deadline has passed: the card data,
	// and the CVV above all, is not needed any more.
	s.vault.Delete(id)

	switch {
	case err == nil:
		s.recordResult(log, rec, result)
	case !reached:
		log.Warn("gateway authorization failed before reaching the gateway", zap.Error(err))
		s.finish(log, rec, store.Transition{To: store.PhaseFailed, FailureReason: ReasonGatewayError})
	default:
		log.Warn("gateway outcome unknown at the vault deadline; voiding", zap.Error(err))
		s.voidUnknown(log, rec, "")
	}
}

// authorizeWithRetry calls Authorize, retrying retryable errors with
// exponential backoff and full jitter until the attempts or ctx run out.
// Retrying is safe because every attempt carries the same idempotency key,
// which the gateway deduplicates. reached reports whether any attempt may
// have reached the gateway.
func (s *Service) authorizeWithRetry(ctx context.Context, log *zap.Logger, req gateway.Request) (gateway.Result, bool, error) {
	reached := false
	var lastErr error
	for attempt := 1; attempt <= s.cfg.GatewayAttempts; attempt++ {
		start := time.Now()
		result, err := s.gateway.Authorize(ctx, req)
		s.observeCall("authorize", start, result, err)
		if err == nil {
			return result, true, nil
		}
		lastErr = err
		if gateway.IsOutcomeUnknown(err) || ctx.Err() != nil {
			reached = true
		}
		if !gateway.IsRetryable(err) || ctx.Err() != nil || attempt == s.cfg.GatewayAttempts {
			break
		}
		delay := backoff(s.cfg.RetryBaseDelay, attempt)
		log.Info("retrying gateway authorization", zap.Int("attempt", attempt+1), zap.Duration("after", delay), zap.Error(err))
		timer := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			timer.Stop()
			return gateway.Result{}, true, lastErr
		case <-timer.C:
		}
	}
	return gateway.Result{}, reached, lastErr
}

func backoff(base time.Duration, attempt int) time.Duration {
	ceiling := base << (attempt - 1)
	return time.Duration(rand.Int64N(int64(ceiling)) + 1)
}

// recordResult writes the gateway's response to the record.
func (s *Service) recordResult(log *zap.Logger, rec store.Record, result gateway.Result) {
	switch result.Status {
	case gateway.StatusApproved:
		s.finish(log, rec, store.Transition{To: store.PhaseApproved, GatewayReference: result.GatewayReference, AuthorizationCode: result.AuthorizationCode})
	case gateway.StatusDeclined:
		s.finish(log, rec, store.Transition{To: store.PhaseDeclined, GatewayReference: result.GatewayReference, DeclineCode: string(result.DeclineCode)})
	case gateway.StatusFailed, gateway.StatusVoided:
		s.finish(log, rec, store.Transition{To: store.PhaseFailed, GatewayReference: result.GatewayReference, FailureReason: ReasonGatewayFailed})
	default:
		// The gateway holds the authorization without a final outcome; the
		// caller cannot receive a result, so it is released.
		log.Warn("gateway responded without a final outcome; voiding", zap.String("gateway_status", string(result.Status)))
		s.voidUnknown(log, rec, result.GatewayReference)
	}
}

// finish moves the record from gateway_sent to a terminal phase.
func (s *Service) finish(log *zap.Logger, rec store.Record, t store.Transition) {
	t.Key, t.Owner, t.From = rec.IdempotencyKey, s.cfg.Owner, []store.Phase{store.PhaseGatewaySent}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.baseCtx), s.cfg.VoidTimeout)
	defer cancel()
	if _, err := s.store.Transition(ctx, t); err != nil {
		log.Error("record authorization outcome failed; recovery will resolve it through the gateway", zap.String("phase", string(t.To)), zap.Error(err))
		return
	}
	if s.hooks != nil {
		s.hooks.Authorized(string(StatusOf(store.Record{Phase: t.To})), t.DeclineCode)
	}
}

// voidUnknown records that a void is due and voids by gateway reference or,
// without one, by idempotency key. A void that fails leaves the record in
// void_pending for recovery.
func (s *Service) voidUnknown(log *zap.Logger, rec store.Record, reference string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(s.baseCtx), s.cfg.VoidTimeout)
	defer cancel()
	if _, err := s.store.Transition(ctx, store.Transition{
		Key: rec.IdempotencyKey, Owner: s.cfg.Owner, From: []store.Phase{store.PhaseGatewaySent},
		To: store.PhaseVoidPending, GatewayReference: reference, FailureReason: ReasonTimeoutVoided,
	}); err != nil {
		log.Error("record void_pending failed; recovery will void", zap.Error(err))
		return
	}
	if err := s.void(ctx, rec.IdempotencyKey, reference, s.cfg.Owner, ReasonTimeoutVoided); err != nil {
		log.Error("void failed; recovery will retry", zap.Error(err))
		return
	}
	log.Info("authorization voided after its outcome stayed unknown")
}

// void releases the authorization at the gateway and records voided. A
// gateway that never saw the key counts as voided: nothing is held.
func (s *Service) void(ctx context.Context, key, reference, owner, reason string) error {
	start := time.Now()
	result, err := s.gateway.Void(ctx, gateway.VoidRequest{GatewayReference: reference, IdempotencyKey: key})
	s.observeCall("void", start, result, err)
	if err != nil && !errors.Is(err, gateway.ErrNotFound) {
		return err
	}
	_, err = s.store.Transition(ctx, store.Transition{
		Key: key, Owner: owner, From: []store.Phase{store.PhaseVoidPending}, To: store.PhaseVoided,
		GatewayReference: result.GatewayReference, FailureReason: reason,
	})
	if err == nil && s.hooks != nil {
		s.hooks.Authorized(string(StatusFailed), "")
	}
	return err
}

func (s *Service) observeCall(operation string, start time.Time, result gateway.Result, err error) {
	if s.hooks == nil {
		return
	}
	outcome := "ok"
	switch {
	case err != nil && gateway.IsOutcomeUnknown(err):
		outcome = "timeout"
	case err != nil && errors.Is(err, gateway.ErrNotFound):
		outcome = "ok"
	case err != nil:
		outcome = "error"
	case result.Status == gateway.StatusDeclined:
		outcome = "declined"
	}
	s.hooks.GatewayCall(s.gateway.Name(), operation, outcome, time.Since(start))
}
