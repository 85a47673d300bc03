package redact

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// scrubber applies the redaction rules to single values and reports every
// change to its counter, which may be nil.
type scrubber struct {
	counter ScrubCounter
}

func (s scrubber) count(kind string, n int) {
	if s.counter == nil {
		return
	}
	for range n {
		s.counter.Scrubbed(kind)
	}
}

// message masks the PANs of a log message or stack trace.
func (s scrubber) message(m string) string {
	masked, n := maskPANs(m)
	s.count(KindPANInMessage, n)
	return masked
}

// text masks the PANs of a field value.
func (s scrubber) text(v string) string {
	masked, n := maskPANs(v)
	s.count(KindPANInField, n)
	return masked
}

// drop returns the redaction mark that replaces a value under a sensitive
// key. It counts the drop unless the value already was the mark, which is
// what secret values print.
func (s scrubber) drop(original any) string {
	if str, ok := original.(string); !ok || str != Redacted {
		s.count(KindSensitiveField, 1)
	}
	return Redacted
}

// integer returns v, or the masked digits as a string when v is a PAN.
func (s scrubber) integer(digits string, v any) any {
	if len(digits) < minPANDigits {
		return v
	}
	if masked := s.text(digits); masked != digits {
		return masked
	}
	return v
}

// float returns v, or the masked digits as a string when v is a whole
// number whose decimal form is a PAN. zap writes such floats without an
// exponent, so 4111111111111111.0 would print all sixteen digits.
func (s scrubber) float(v float64) any {
	if v != math.Trunc(v) || math.Abs(v) < 1e11 || math.Abs(v) >= 1e19 {
		return v
	}
	return s.integer(strconv.FormatFloat(v, 'f', -1, 64), v)
}

// fields scrubs a field list and returns the new fields, which the inner core
// may keep (With) or encode (Write). It also returns whether the list ends
// inside a namespace opened under a sensitive key, so that later fields (from
// With and then Write) are dropped too.
func (s scrubber) fields(fields []zapcore.Field, insideSensitive bool) ([]zapcore.Field, bool) {
	rec := &objectRecorder{scrub: s, sensitive: insideSensitive}
	for _, f := range fields {
		f.AddTo(rec)
	}
	out := make([]zapcore.Field, len(rec.values))
	for i, v := range rec.values {
		out[i] = v.field()
	}
	return out, rec.sensitive
}

// The value types a recorder stores besides Go's scalar types, string,
// time.Duration and time.Time.
type (
	byteStringValue []byte
	binaryValue     []byte
	reflectedValue  json.RawMessage
	namespaceValue  struct{}
)

// recordedValue is one scrubbed value added to an encoder, with its key (empty
// inside arrays).
type recordedValue struct {
	key   string
	value any
}

// field returns the zap field that adds the value again.
func (v recordedValue) field() zapcore.Field {
	switch x := v.value.(type) {
	case string:
		return zap.String(v.key, x)
	case bool:
		return zap.Bool(v.key, x)
	case int64:
		return zap.Int64(v.key, x)
	case uint64:
		return zap.Uint64(v.key, x)
	case float64:
		return zap.Float64(v.key, x)
	case float32:
		return zap.Float32(v.key, x)
	case complex128:
		return zap.Complex128(v.key, x)
	case complex64:
		return zap.Complex64(v.key, x)
	case time.Duration:
		return zap.Duration(v.key, x)
	case time.Time:
		return zap.Time(v.key, x)
	case byteStringValue:
		return zap.ByteString(v.key, x)
	case binaryValue:
		return zap.Binary(v.key, x)
	case reflectedValue:
		return zap.Reflect(v.key, json.RawMessage(x))
	case *recordedObject:
		return zap.Object(v.key, x)
	case *recordedArray:
		return zap.Array(v.key, x)
	case namespaceValue:
		return zap.Namespace(v.key)
	default:
		// Unreachable: the recorders store only the types above.
		return zap.String(v.key, Redacted)
	}
}

// appendTo appends the value to an array encoder.
func (v recordedValue) appendTo(enc zapcore.ArrayEncoder) {
	switch x := v.value.(type) {
	case string:
		enc.AppendString(x)
	case bool:
		enc.AppendBool(x)
	case int64:
		enc.AppendInt64(x)
	case uint64:
		enc.AppendUint64(x)
	case float64:
		enc.AppendFloat64(x)
	case float32:
		enc.AppendFloat32(x)
	case complex128:
		enc.AppendComplex128(x)
	case complex64:
		enc.AppendComplex64(x)
	case time.Duration:
		enc.AppendDuration(x)
	case time.Time:
		enc.AppendTime(x)
	case byteStringValue:
		enc.AppendByteString(x)
	case reflectedValue:
		_ = enc.AppendReflected(json.RawMessage(x))
	case *recordedObject:
		_ = enc.AppendObject(x)
	case *recordedArray:
		_ = enc.AppendArray(x)
	default:
		// Unreachable: arrays hold no binary values or namespaces.
		enc.AppendString(Redacted)
	}
}

// recordedObject is the scrubbed content of an ObjectMarshaler. Its
// MarshalLogObject returns no error, because the original's error was
// returned while recording, where zap's Field.AddTo turned it into a
// "…Error" field if it reached the top level.
type recordedObject struct {
	values []recordedValue
}

// MarshalLogObject adds the recorded values in their original order.
func (o *recordedObject) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	for _, v := range o.values {
		v.field().AddTo(enc)
	}
	return nil
}

// recordedArray is the scrubbed content of an ArrayMarshaler.
type recordedArray struct {
	values []recordedValue
}

// MarshalLogArray appends the recorded values in their original order.
func (a *recordedArray) MarshalLogArray(enc zapcore.ArrayEncoder) error {
	for _, v := range a.values {
		v.appendTo(enc)
	}
	return nil
}

// objectRecorder is a zapcore.ObjectEncoder that stores scrubbed copies of
// the values added to it. Recording once, when a field reaches the core, lets
// the core count each scrub once and hand plain fields to the inner core,
// whatever that core does with them later.
type objectRecorder struct {
	scrub scrubber
	// sensitive is true inside an object under a sensitive key and after a
	// namespace opened under one: every value is dropped unless its key
	// names a derived property.
	sensitive bool
	values    []recordedValue
}

var _ zapcore.ObjectEncoder = (*objectRecorder)(nil)

func (r *objectRecorder) record(key string, v any) {
	r.values = append(r.values, recordedValue{key: key, value: v})
}

// leaf records v, or the redaction mark when key is sensitive.
func (r *objectRecorder) leaf(key string, v any) {
	if redactValue(key, r.sensitive) {
		r.record(key, r.scrub.drop(v))
		return
	}
	r.record(key, v)
}

func (r *objectRecorder) AddString(key, value string) {
	if redactValue(key, r.sensitive) {
		r.record(key, r.scrub.drop(value))
		return
	}
	r.record(key, r.scrub.text(value))
}

func (r *objectRecorder) AddByteString(key string, value []byte) {
	if redactValue(key, r.sensitive) {
		r.record(key, r.scrub.drop(string(value)))
		return
	}
	r.record(key, byteStringValue(r.scrub.text(string(value))))
}

func (r *objectRecorder) AddBinary(key string, value []byte) {
	if redactValue(key, r.sensitive) {
		r.record(key, r.scrub.drop(value))
		return
	}
	r.record(key, binaryValue(r.scrub.text(string(value))))
}

func (r *objectRecorder) AddInt64(key string, value int64) {
	if redactValue(key, r.sensitive) {
		r.record(key, r.scrub.drop(value))
		return
	}
	r.record(key, r.scrub.integer(strconv.FormatInt(value, 10), value))
}

func (r *objectRecorder) AddUint64(key string, value uint64) {
	if redactValue(key, r.sensitive) {
		r.record(key, r.scrub.drop(value))
		return
	}
	r.record(key, r.scrub.integer(strconv.FormatUint(value, 10), value))
}

func (r *objectRecorder) AddFloat64(key string, value float64) {
	if redactValue(key, r.sensitive) {
		r.record(key, r.scrub.drop(value))
		return
	}
	r.record(key, r.scrub.float(value))
}

func (r *objectRecorder) AddInt(key string, value int)         { r.AddInt64(key, int64(value)) }
func (r *objectRecorder) AddInt32(key string, value int32)     { r.AddInt64(key, int64(value)) }
func (r *objectRecorder) AddInt16(key string, value int16)     { r.AddInt64(key, int64(value)) }
func (r *objectRecorder) AddInt8(key string, value int8)       { r.AddInt64(key, int64(value)) }
func (r *objectRecorder) AddUint(key string, value uint)       { r.AddUint64(key, uint64(value)) }
func (r *objectRecorder) AddUint32(key string, value uint32)   { r.AddUint64(key, uint64(value)) }
func (r *objectRecorder) AddUint16(key string, value uint16)   { r.AddUint64(key, uint64(value)) }
func (r *objectRecorder) AddUint8(key string, value uint8)     { r.AddUint64(key, uint64(value)) }
func (r *objectRecorder) AddUintptr(key string, value uintptr) { r.AddUint64(key, uint64(value)) }

func (r *objectRecorder) AddBool(key string, value bool)             { r.leaf(key, value) }
func (r *objectRecorder) AddFloat32(key string, value float32)       { r.leaf(key, value) }
func (r *objectRecorder) AddComplex128(key string, value complex128) { r.leaf(key, value) }
func (r *objectRecorder) AddComplex64(key string, value complex64)   { r.leaf(key, value) }
func (r *objectRecorder) AddDuration(key string, value time.Duration) {
	r.leaf(key, value)
}
func (r *objectRecorder) AddTime(key string, value time.Time) { r.leaf(key, value) }

func (r *objectRecorder) AddReflected(key string, value any) error {
	data, err := r.scrub.reflected(value, redactValue(key, r.sensitive))
	if err != nil {
		return err
	}
	r.record(key, data)
	return nil
}

func (r *objectRecorder) AddObject(key string, marshaler zapcore.ObjectMarshaler) error {
	child := &objectRecorder{scrub: r.scrub, sensitive: redactValue(key, r.sensitive)}
	err := marshaler.MarshalLogObject(child)
	r.record(key, &recordedObject{values: child.values})
	return r.scrub.err(err)
}

func (r *objectRecorder) AddArray(key string, marshaler zapcore.ArrayMarshaler) error {
	child := &arrayRecorder{scrub: r.scrub, sensitive: redactValue(key, r.sensitive)}
	err := marshaler.MarshalLogArray(child)
	r.record(key, &recordedArray{values: child.values})
	return r.scrub.err(err)
}

func (r *objectRecorder) OpenNamespace(key string) {
	r.record(key, namespaceValue{})
	r.sensitive = redactValue(key, r.sensitive)
}

// arrayRecorder is the zapcore.ArrayEncoder counterpart of objectRecorder.
// Array elements have no keys, so inside an array under a sensitive key every
// element is dropped.
type arrayRecorder struct {
	scrub     scrubber
	sensitive bool
	values    []recordedValue
}

var _ zapcore.ArrayEncoder = (*arrayRecorder)(nil)

func (r *arrayRecorder) record(v any) {
	r.values = append(r.values, recordedValue{value: v})
}

func (r *arrayRecorder) leaf(v any) {
	if r.sensitive {
		r.record(r.scrub.drop(v))
		return
	}
	r.record(v)
}

func (r *arrayRecorder) AppendString(value string) {
	if r.sensitive {
		r.record(r.scrub.drop(value))
		return
	}
	r.record(r.scrub.text(value))
}

func (r *arrayRecorder) AppendByteString(value []byte) {
	if r.sensitive {
		r.record(r.scrub.drop(string(value)))
		return
	}
	r.record(byteStringValue(r.scrub.text(string(value))))
}

func (r *arrayRecorder) AppendInt64(value int64) {
	if r.sensitive {
		r.record(r.scrub.drop(value))
		return
	}
	r.record(r.scrub.integer(strconv.FormatInt(value, 10), value))
}

func (r *arrayRecorder) AppendUint64(value uint64) {
	if r.sensitive {
		r.record(r.scrub.drop(value))
		return
	}
	r.record(r.scrub.integer(strconv.FormatUint(value, 10), value))
}

func (r *arrayRecorder) AppendFloat64(value float64) {
	if r.sensitive {
		r.record(r.scrub.drop(value))
		return
	}
	r.record(r.scrub.float(value))
}

func (r *arrayRecorder) AppendInt(value int)         { r.AppendInt64(int64(value)) }
func (r *arrayRecorder) AppendInt32(value int32)     { r.AppendInt64(int64(value)) }
func (r *arrayRecorder) AppendInt16(value int16)     { r.AppendInt64(int64(value)) }
func (r *arrayRecorder) AppendInt8(value int8)       { r.AppendInt64(int64(value)) }
func (r *arrayRecorder) AppendUint(value uint)       { r.AppendUint64(uint64(value)) }
func (r *arrayRecorder) AppendUint32(value uint32)   { r.AppendUint64(uint64(value)) }
func (r *arrayRecorder) AppendUint16(value uint16)   { r.AppendUint64(uint64(value)) }
func (r *arrayRecorder) AppendUint8(value uint8)     { r.AppendUint64(uint64(value)) }
func (r *arrayRecorder) AppendUintptr(value uintptr) { r.AppendUint64(uint64(value)) }

func (r *arrayRecorder) AppendBool(value bool)             { r.leaf(value) }
func (r *arrayRecorder) AppendFloat32(value float32)       { r.leaf(value) }
func (r *arrayRecorder) AppendComplex128(value complex128) { r.leaf(value) }
func (r *arrayRecorder) AppendComplex64(value complex64)   { r.leaf(value) }
func (r *arrayRecorder) AppendDuration(value time.Duration) {
	r.leaf(value)
}
func (r *arrayRecorder) AppendTime(value time.Time) { r.leaf(value) }

func (r *arrayRecorder) AppendReflected(value any) error {
	data, err := r.scrub.reflected(value, r.sensitive)
	if err != nil {
		return err
	}
	r.record(data)
	return nil
}

func (r *arrayRecorder) AppendObject(marshaler zapcore.ObjectMarshaler) error {
	child := &objectRecorder{scrub: r.scrub, sensitive: r.sensitive}
	err := marshaler.MarshalLogObject(child)
	r.record(&recordedObject{values: child.values})
	return r.scrub.err(err)
}

func (r *arrayRecorder) AppendArray(marshaler zapcore.ArrayMarshaler) error {
	child := &arrayRecorder{scrub: r.scrub, sensitive: r.sensitive}
	err := marshaler.MarshalLogArray(child)
	r.record(&recordedArray{values: child.values})
	return r.scrub.err(err)
}

// err returns err with its text scrubbed, because zap logs the error of a
// failed marshaler as a "…Error" field.
func (s scrubber) err(err error) error {
	if err == nil {
		return nil
	}
	return errors.New(s.text(err.Error()))
}

// reflected encodes value as JSON the way zap's default reflected encoder
// does, and scrubs the result: strings and numbers that hold a PAN are
// masked, and values under sensitive keys are dropped. A value zap could not
// encode returns the encoding error, which zap then logs as a "…Error" field.
func (s scrubber) reflected(value any, sensitive bool) (reflectedValue, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(value); err != nil {
		return nil, s.err(err)
	}

	dec := json.NewDecoder(&buf)
	dec.UseNumber()
	var out bytes.Buffer
	if err := s.copyJSON(dec, &out, sensitive); err != nil {
		return nil, s.err(err)
	}
	return reflectedValue(out.Bytes()), nil
}

// copyJSON copies one JSON value from dec to out, scrubbing it.
func (s scrubber) copyJSON(dec *json.Decoder, out *bytes.Buffer, sensitive bool) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch v := tok.(type) {
	case json.Delim:
		if v == '{' {
			return s.copyJSONObject(dec, out, sensitive)
		}
		return s.copyJSONArray(dec, out, sensitive)
	case string:
		if sensitive {
			writeJSONString(out, s.drop(v))
		} else {
			writeJSONString(out, s.text(v))
		}
	case json.Number:
		if sensitive {
			writeJSONString(out, s.drop(v))
			break
		}
		// Masked digits are no number any more, so they become a string.
		if masked := s.text(v.String()); masked != v.String() {
			writeJSONString(out, masked)
		} else {
			out.WriteString(v.String())
		}
	case bool:
		if sensitive {
			writeJSONString(out, s.drop(v))
		} else {
			out.WriteString(strconv.FormatBool(v))
		}
	case nil:
		out.WriteString("null")
	}
	return nil
}

func (s scrubber) copyJSONObject(dec *json.Decoder, out *bytes.Buffer, sensitive bool) error {
	out.WriteByte('{')
	for first := true; dec.More(); first = false {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		if !first {
			out.WriteByte(',')
		}
		// Map keys are data: a map keyed by card number would print the PAN.
		writeJSONString(out, s.text(key))
		out.WriteByte(':')
		if err := s.copyJSON(dec, out, redactValue(key, sensitive)); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return err
	}
	out.WriteByte('}')
	return nil
}

func (s scrubber) copyJSONArray(dec *json.Decoder, out *bytes.Buffer, sensitive bool) error {
	out.WriteByte('[')
	for first := true; dec.More(); first = false {
		if !first {
			out.WriteByte(',')
		}
		if err := s.copyJSON(dec, out, sensitive); err != nil {
			return err
		}
	}
	if _, err := dec.Token(); err != nil { // the closing ']'
		return err
	}
	out.WriteByte(']')
	return nil
}

// writeJSONString writes s as a JSON string without escaping <, > and &,
// matching zap's JSON encoder.
func writeJSONString(out *bytes.Buffer, s string) {
	enc := json.NewEncoder(out)
	enc.SetEscapeHTML(false)
	// Encode fails only on unsupported types and failed writes, and a
	// string into a bytes.Buffer is neither.
	_ = enc.Encode(s)
	out.Truncate(out.Len() - 1) // Encode ends with a newline
}
