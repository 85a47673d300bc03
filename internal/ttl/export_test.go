package ttl

import "time"

// NewWithTicks returns a vault whose sweeper runs only when the test sends on
// ticks, so a test can hold the sweeper still or run it on demand.
func NewWithTicks(cfg Config, ticks <-chan time.Time) (*Vault, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return start(cfg, ticks, func() {}), nil
}
