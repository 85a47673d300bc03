-- One row per idempotency key: the authorization record of package store.
-- No column contains a PAN, an expiry date or a CVV, not even encrypted. The
-- card columns contain only the brand, the BIN and the last four digits, and
-- CHECK constraints reject anything longer.
CREATE TABLE authorizations (
    -- The "C" collation compares keys byte by byte, as Go strings compare,
    -- whatever the locale of the database.
    idempotency_key    text        COLLATE "C" PRIMARY KEY,
    id                 text        NOT NULL,
    fingerprint        text        NOT NULL,
    amount             bigint      NOT NULL,
    currency           text        NOT NULL,
    reference          text        NOT NULL,
    contact_id         text        NOT NULL,
    card_brand         text        NOT NULL,
    card_bin           text        NOT NULL,
    card_last4         text        NOT NULL,
    phase              text        NOT NULL,
    gateway_reference  text        NOT NULL,
    authorization_code text        NOT NULL,
    decline_code       text        NOT NULL,
    failure_reason     text        NOT NULL,
    owner              text        NOT NULL,
    lease_until        timestamptz NOT NULL,
    created_at         timestamptz NOT NULL,
    updated_at         timestamptz NOT NULL,

    CONSTRAINT authorizations_phase_check CHECK (phase IN (
        'started', 'gateway_sent', 'approved', 'declined', 'failed', 'void_pending', 'voided')),
    CONSTRAINT authorizations_amount_check CHECK (amount > 0),
    CONSTRAINT authorizations_currency_check CHECK (currency ~ '^[A-Z]{3}$'),
    CONSTRAINT authorizations_card_bin_check CHECK (card_bin ~ '^[0-9]{0,8}$'),
    CONSTRAINT authorizations_card_last4_check CHECK (card_last4 ~ '^([0-9]{4})?$')
);

COMMENT ON TABLE authorizations IS
    'Authorization records by idempotency key. Never a PAN, expiry date or CVV, not even encrypted.';

-- Recovery lists in-flight records whose lease ended, oldest lease first.
-- The partial index has one entry per authorization in flight, and its order
-- is the order of the listing.
CREATE INDEX authorizations_expired_lease_idx ON authorizations (lease_until, created_at, idempotency_key)
    WHERE phase IN ('started', 'gateway_sent', 'void_pending');

-- Retention deletes the oldest records first, in batches.
CREATE INDEX authorizations_created_at_idx ON authorizations (created_at);
