package service

import (
	"context"
	"errors"
	"time"

	"github.com/connect-secure-input/processor/internal/metrics"
	"github.com/connect-secure-input/processor/internal/store"
)

// countingStore counts store outages (errors that wrap store.ErrUnavailable)
// by operation in processor_store_errors_total. Logic errors such as a
// phase conflict are part of normal operation and are not counted.
type countingStore struct {
	store.Store
	m *metrics.Metrics
}

var _ store.Store = countingStore{}

func (c countingStore) count(operation string, err error) {
	if errors.Is(err, store.ErrUnavailable) {
		c.m.StoreError(operation)
	}
}

func (c countingStore) Claim(ctx context.Context, rec store.Record) (store.Record, bool, error) {
	stored, created, err := c.Store.Claim(ctx, rec)
	c.count("claim", err)
	return stored, created, err
}

func (c countingStore) Get(ctx context.Context, key string) (store.Record, error) {
	rec, err := c.Store.Get(ctx, key)
	c.count("get", err)
	return rec, err
}

func (c countingStore) Transition(ctx context.Context, t store.Transition) (store.Record, error) {
	rec, err := c.Store.Transition(ctx, t)
	c.count("transition", err)
	return rec, err
}

func (c countingStore) RenewLease(ctx context.Context, key, owner string, until time.Time) error {
	err := c.Store.RenewLease(ctx, key, owner, until)
	c.count("renew_lease", err)
	return err
}

func (c countingStore) ListExpired(ctx context.Context, now time.Time, limit int) ([]store.Record, error) {
	recs, err := c.Store.ListExpired(ctx, now, limit)
	c.count("list_expired", err)
	return recs, err
}

func (c countingStore) TakeOver(ctx context.Context, key, owner string, now, until time.Time) (store.Record, error) {
	rec, err := c.Store.TakeOver(ctx, key, owner, now, until)
	c.count("take_over", err)
	return rec, err
}

func (c countingStore) DeleteOlderThan(ctx context.Context, cutoff time.Time, batch int) (int, error) {
	n, err := c.Store.DeleteOlderThan(ctx, cutoff, batch)
	c.count("delete_older_than", err)
	return n, err
}

func (c countingStore) Ping(ctx context.Context) error {
	err := c.Store.Ping(ctx)
	c.count("ping", err)
	return err
}
