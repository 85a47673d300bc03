// Package secret holds plaintext card data (PAN, expiry, CVV) in a byte slice
// that prints as a redaction mark through every formatting and encoding path
// and can be zeroed in place.
//
// NOTE: Wipe zeroes the one backing array a Value owns. Copies made before the
// bytes reached a Value (for example inside the AWS Encryption SDK, which
// returns its own plaintext slice) are outside its reach; callers hand
// ownership to New and wipe the source when they made a copy with Copy.
package secret

import (
	"fmt"
	"sync"

	"go.uber.org/zap/zapcore"
)

// Redacted is what every printing and encoding path of a Value writes.
const Redacted = "[REDACTED]"

// Value is plaintext card data. The zero value is empty. Copies of a Value
// share one backing array, so Wipe through any copy wipes them all, and every
// printing method has a value receiver so neither Value nor *Value can print
// its bytes.
type Value struct {
	s *state
}

type state struct {
	mu    sync.Mutex
	b     []byte
	wiped bool
}

// New returns a Value that takes ownership of b: the caller must not keep or
// use b afterwards, because Wipe zeroes it.
func New(b []byte) Value {
	return Value{s: &state{b: b}}
}

// Copy returns a Value holding a copy of b. The caller still owns b and must
// wipe it when b itself is sensitive.
func Copy(b []byte) Value {
	owned := make([]byte, len(b))
	copy(owned, b)
	return New(owned)
}

// Bytes returns the plaintext without copying it. The slice is valid until
// Wipe; callers must not retain it, convert it to a string, or log it.
func (v Value) Bytes() []byte {
	if v.s == nil {
		return nil
	}
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	return v.s.b
}

// Len returns the number of plaintext bytes, or 0 once wiped.
func (v Value) Len() int {
	if v.s == nil {
		return 0
	}
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	return len(v.s.b)
}

// Wipe zeroes the plaintext in place and drops the reference. It is safe to
// call more than once and on the zero Value.
func (v Value) Wipe() {
	if v.s == nil {
		return
	}
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	Zero(v.s.b)
	v.s.b = nil
	v.s.wiped = true
}

// Wiped reports whether Wipe has run; the zero Value counts as wiped.
func (v Value) Wiped() bool {
	if v.s == nil {
		return true
	}
	v.s.mu.Lock()
	defer v.s.mu.Unlock()
	return v.s.wiped
}

// Zero overwrites b with zeros. It is the one wiping primitive of the service.
func Zero(b []byte) {
	// clear is not elided by the compiler: the slice escapes through the
	// caller, so the stores are observable.
	clear(b)
}

// String implements fmt.Stringer with the redaction mark.
func (v Value) String() string { return Redacted }

// GoString implements fmt.GoStringer with the redaction mark, for %#v.
func (v Value) GoString() string { return Redacted }

// Format implements fmt.Formatter so that every verb (%s, %v, %q, %x, %d, ...)
// prints the redaction mark instead of the bytes.
func (v Value) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(Redacted)) }

// MarshalJSON encodes the redaction mark as a JSON string.
func (v Value) MarshalJSON() ([]byte, error) { return []byte(`"` + Redacted + `"`), nil }

// MarshalText encodes the redaction mark, which also covers encoding/xml and
// map keys in encoding/json.
func (v Value) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// MarshalLogObject implements zapcore.ObjectMarshaler with a redaction mark
// and the length, which is not sensitive and helps when debugging input.
func (v Value) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	enc.AddString("value", Redacted)
	enc.AddInt("length", v.Len())
	return nil
}

var (
	_ fmt.Stringer            = Value{}
	_ fmt.GoStringer          = Value{}
	_ fmt.Formatter           = Value{}
	_ zapcore.ObjectMarshaler = Value{}
)
