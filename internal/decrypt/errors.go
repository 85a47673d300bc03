package decrypt

import (
	"errors"
	"fmt"
)

// Code is a stable failure code that the API returns to clients.
type Code string

// The decrypt failure codes. They are part of the API contract.
const (
	CodeMalformed                Code = "ciphertext_malformed"
	CodeTooLarge                 Code = "ciphertext_too_large"
	CodeTooManyEncryptedDataKeys Code = "too_many_encrypted_data_keys"
	CodeKeyProviderUnsupported   Code = "key_provider_unsupported"
	CodeKeyUnknown               Code = "key_unknown"
	CodeCommitmentPolicy         Code = "commitment_policy_violation"
	CodeSuiteRejected            Code = "algorithm_suite_rejected"
	CodeContextMismatch          Code = "encryption_context_mismatch"
	CodeAuthenticationFailed     Code = "ciphertext_authentication_failed"
	CodeKMSUnavailable           Code = "kms_unavailable"
	CodeKMSAccessDenied          Code = "kms_access_denied"
)

// Codes lists every decrypt code, for metrics that start at zero and for
// documentation tests.
var Codes = []Code{
	CodeMalformed, CodeTooLarge, CodeTooManyEncryptedDataKeys, CodeKeyProviderUnsupported,
	CodeKeyUnknown, CodeCommitmentPolicy, CodeSuiteRejected, CodeContextMismatch,
	CodeAuthenticationFailed, CodeKMSUnavailable, CodeKMSAccessDenied,
}

// Error is a classified decrypt failure. Message is safe to return to a
// client: it names key names, ARNs, context keys and sizes, never plaintext,
// ciphertext or key material. The cause stays in the process for logs.
type Error struct {
	Code    Code
	Message string
	cause   error
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Unwrap returns the internal cause.
func (e *Error) Unwrap() error { return e.cause }

// Retryable reports whether the same ciphertext may succeed later.
func (e *Error) Retryable() bool { return e.Code == CodeKMSUnavailable }

func newError(code Code, cause error, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), cause: cause}
}

// CodeOf returns the decrypt code of err, or "" when err is not a decrypt
// failure.
func CodeOf(err error) Code {
	var de *Error
	if errors.As(err, &de) {
		return de.Code
	}
	return ""
}
