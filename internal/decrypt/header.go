package decrypt

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Header is the non-secret part of an AWS Encryption SDK message, read
// without decrypting anything. The layout follows the ESDK message format
// reference (docs.aws.amazon.com/encryption-sdk/latest/developer-guide/message-format.html)
// for format versions 1 and 2.
type Header struct {
	FormatVersion     int
	Suite             Suite
	MessageID         []byte
	EncryptionContext []ContextEntry
	EncryptedDataKeys []EncryptedDataKey
	ContentType       ContentType
	FrameLength       uint32
	// Length is the number of bytes the header occupies, including its
	// authentication tag.
	Length int
}

// ContextEntry is one encryption-context pair in the order it was serialized.
type ContextEntry struct {
	Key   string
	Value string
}

// EncryptedDataKey is one wrapped data key: which provider wrapped it and
// under which key (for raw RSA, the key name; for KMS, the key ARN).
type EncryptedDataKey struct {
	ProviderID   string
	ProviderInfo string
	// CiphertextLength is the size of the wrapped key in bytes; the wrapped
	// key itself is not kept.
	CiphertextLength int
}

// ContentType says whether the body is framed.
type ContentType byte

const (
	ContentNonFramed ContentType = 0x01
	ContentFramed    ContentType = 0x02
)

func (c ContentType) String() string {
	switch c {
	case ContentNonFramed:
		return "non-framed"
	case ContentFramed:
		return "framed"
	}
	return fmt.Sprintf("unknown(0x%02x)", byte(c))
}

// errHeaderTruncated and errHeaderInvalid are wrapped with the field that
// failed; both classify as ciphertext_malformed.
var (
	errHeaderTruncated = errors.New("message header is truncated")
	errHeaderInvalid   = errors.New("message header is invalid")
)

// headerReader reads big-endian fields and records the first failure, so the
// parse below reads as a list of fields.
type headerReader struct {
	buf   []byte
	off   int
	err   error
	field string
}

func (r *headerReader) take(n int, field string) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.buf)-r.off < n {
		r.err = fmt.Errorf("%w: %s needs %d bytes at offset %d", errHeaderTruncated, field, n, r.off)
		return nil
	}
	out := r.buf[r.off : r.off+n]
	r.off += n
	return out
}

func (r *headerReader) u8(field string) int {
	b := r.take(1, field)
	if b == nil {
		return 0
	}
	return int(b[0])
}

func (r *headerReader) u16(field string) int {
	b := r.take(2, field)
	if b == nil {
		return 0
	}
	return int(binary.BigEndian.Uint16(b))
}

func (r *headerReader) u32(field string) uint32 {
	b := r.take(4, field)
	if b == nil {
		return 0
	}
	return binary.BigEndian.Uint32(b)
}

func (r *headerReader) fail(format string, args ...any) {
	if r.err == nil {
		r.err = fmt.Errorf("%w: "+format, append([]any{errHeaderInvalid}, args...)...)
	}
}

// ParseHeader reads the header of an ESDK message. It never decrypts and never
// allocates more than the input holds, so it is safe on hostile bytes.
func ParseHeader(msg []byte) (*Header, error) {
	r := &headerReader{buf: msg}
	h := &Header{}

	h.FormatVersion = r.u8("version")
	switch h.FormatVersion {
	case 1:
		if t := r.u8("type"); r.err == nil && t != 0x80 {
			r.fail("message type 0x%02x, want 0x80", t)
		}
	case 2:
	default:
		if r.err == nil {
			r.fail("format version %d; only 1 and 2 exist", h.FormatVersion)
		}
	}
	h.Suite = Suite(r.u16("algorithm suite id"))
	info, known := suites[h.Suite]
	if r.err == nil && !known {
		r.fail("unknown algorithm suite 0x%04x", uint16(h.Suite))
	}
	if r.err == nil && info.formatVersion != h.FormatVersion {
		r.fail("algorithm suite %s belongs to format version %d, not %d", h.Suite, info.formatVersion, h.FormatVersion)
	}
	idLength := 16
	if h.FormatVersion == 2 {
		idLength = 32
	}
	h.MessageID = r.take(idLength, "message id")

	h.EncryptionContext = readEncryptionContext(r)
	h.EncryptedDataKeys = readEncryptedDataKeys(r)

	h.ContentType = ContentType(r.u8("content type"))
	if r.err == nil && h.ContentType != ContentNonFramed && h.ContentType != ContentFramed {
		r.fail("content type 0x%02x", byte(h.ContentType))
	}
	if h.FormatVersion == 1 {
		if reserved := r.u32("reserved"); r.err == nil && reserved != 0 {
			r.fail("reserved field is 0x%08x, want 0", reserved)
		}
		if ivLength := r.u8("IV length"); r.err == nil && ivLength != 12 {
			r.fail("IV length %d, want 12", ivLength)
		}
	}
	h.FrameLength = r.u32("frame length")
	if r.err == nil && h.ContentType == ContentNonFramed && h.FrameLength != 0 {
		r.fail("non-framed message with frame length %d", h.FrameLength)
	}
	if r.err == nil && h.ContentType == ContentFramed && h.FrameLength == 0 {
		r.fail("framed message with frame length 0")
	}
	if h.FormatVersion == 2 {
		r.take(info.suiteDataLength, "algorithm suite data")
		r.take(16, "header authentication tag")
	} else {
		r.take(12+16, "header authentication IV and tag")
	}
	if r.err != nil {
		return nil, r.err
	}
	h.Length = r.off
	return h, nil
}

func readEncryptionContext(r *headerReader) []ContextEntry {
	aadLength := r.u16("encryption context length")
	if r.err != nil || aadLength == 0 {
		return nil
	}
	aad := &headerReader{buf: r.take(aadLength, "encryption context")}
	if r.err != nil {
		return nil
	}
	count := aad.u16("encryption context pair count")
	if aad.err == nil && count == 0 {
		aad.fail("encryption context has a length but no pairs")
	}
	entries := make([]ContextEntry, 0, min(count, aadLength/4))
	for i := 0; i < count && aad.err == nil; i++ {
		key := aad.take(aad.u16("encryption context key length"), "encryption context key")
		value := aad.take(aad.u16("encryption context value length"), "encryption context value")
		entries = append(entries, ContextEntry{Key: string(key), Value: string(value)})
	}
	if aad.err == nil && aad.off != len(aad.buf) {
		aad.fail("encryption context has %d bytes after its last pair", len(aad.buf)-aad.off)
	}
	if aad.err != nil {
		r.err = aad.err
	}
	return entries
}

func readEncryptedDataKeys(r *headerReader) []EncryptedDataKey {
	count := r.u16("encrypted data key count")
	if r.err == nil && count == 0 {
		r.fail("no encrypted data keys")
	}
	// Each key needs at least six length bytes, which bounds the allocation
	// by the input size rather than by the claimed count.
	keys := make([]EncryptedDataKey, 0, min(count, (len(r.buf)-r.off)/6))
	for i := 0; i < count && r.err == nil; i++ {
		provider := r.take(r.u16("key provider id length"), "key provider id")
		info := r.take(r.u16("key provider info length"), "key provider info")
		wrapped := r.take(r.u16("encrypted data key length"), "encrypted data key")
		keys = append(keys, EncryptedDataKey{ProviderID: string(provider), ProviderInfo: string(info), CiphertextLength: len(wrapped)})
	}
	return keys
}

// ContextValue returns the value of key in the header's encryption context.
func (h *Header) ContextValue(key string) (string, bool) {
	for _, e := range h.EncryptionContext {
		if e.Key == key {
			return e.Value, true
		}
	}
	return "", false
}
