package decrypt

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"

	mpltypes "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygeneratedtypes"
	primtypes "github.com/aws/aws-cryptographic-material-providers-library/releases/go/primitives/awscryptographyprimitivessmithygeneratedtypes"
	esdktypes "github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygeneratedtypes"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/connect-secure-input/processor/internal/kmsesdk"
)

// A libraryRule maps one kind of failure reported by the ESDK, the Material
// Providers Library or the KMS client to a code. The ESDK for Go reports many
// causes through one exception type, so rules match by type where the type
// identifies the cause and by the exception's message otherwise. The
// wording was read from ESDK v0.4.0 and MPL v0.4.0; classify_test.go pins each
// rule with the library's own error types, so a changed wording fails a test
// rather than silently changing a code.
type libraryRule struct {
	name  string
	code  Code
	match func(error) bool
}

// libraryRules is ordered: the first rule that matches any error in the
// library's error tree wins. Retryable KMS failures come first, because a
// keyring that could not reach KMS also reports that no key decrypted.
var libraryRules = []libraryRule{
	{"kms network or throttling", CodeKMSUnavailable, isKMSUnavailable},
	{"kms access denied", CodeKMSAccessDenied, kmsErrorCode(kmsAccessDeniedCodes...)},
	{"commitment policy", CodeCommitmentPolicy, messageContains("Commitment policy requires only committing algorithm suites")},
	{"reproduced context mismatch", CodeContextMismatch, messageContains("does not match reproduced encryption context", "missing required keys", "Reproduced encryption context")},
	{"too many encrypted data keys", CodeTooManyEncryptedDataKeys, messageContains("exceed maxEncryptedDataKeys")},
	{"truncated or malformed message", CodeMalformed, messageContains(
		"Incomplete message", "Unexpected message version", "Unknown message version", "Unsupported Version value",
		"Unsupported ContentType value", "Incorrect reserved bytes", "Frame length must", "FrameLength must",
		"HeaderIv Length", "Encryption Context pairs count", "Encryption Context byte length", "Encryption Context exceeds maximum length",
		"Duplicate Encryption Context key", "Invalid Encryption Context", "AAD Length did not match", "Data after message footer",
		"Sequence number out of order", "frame sequence number", "too many frames", "Content length MUST NOT exceed",
		"Invalid providerID", "Algorithm suite ID not supported", "Suites with message version", "Length of signature bytes",
	)},
	{"kms rejected the wrapped key", CodeAuthenticationFailed, kmsErrorCode("InvalidCiphertextException", "IncorrectKeyException")},
	{"signature, commitment or tag check failed", CodeAuthenticationFailed, messageContains(
		"Invalid signature", "Commitment key does not match", "Commitment key is invalid", "message authentication failed",
		"crypto/rsa: decryption error", "Encryption Context missing verification key", "Unable to decrypt data key",
		"No Configured Keyring was able to decrypt", "Raw RSA Key was unable to decrypt",
	)},
	{"library panic", CodeMalformed, func(err error) bool { var p *libraryPanic; return errors.As(err, &p) }},
}

// kmsUnavailableCodes are KMS error codes that may clear on a retry.
var kmsUnavailableCodes = []string{
	"ThrottlingException", "KMSInternalException", "DependencyTimeoutException", "KeyUnavailableException",
	"LimitExceededException", "ServiceUnavailableException", "InternalFailure", "RequestTimeout", "RequestTimeoutException",
}

// kmsAccessDeniedCodes are KMS error codes that mean the service may not use
// the key: a permission, a key state or a credential problem that an operator
// must fix.
var kmsAccessDeniedCodes = []string{
	"AccessDeniedException", "DisabledException", "KMSInvalidStateException", "NotFoundException",
	"InvalidGrantTokenException", "UnrecognizedClientException", "InvalidSignatureException",
	"ExpiredTokenException", "InvalidKeyUsageException",
}

// classify maps an ESDK failure to a decrypt error. kms is nil on the Connect
// path; on the KMS path a failure that the header shows to be an
// encryption-context problem is reported as one, naming the keys.
func classify(err error, h *Header, kms *kmsesdk.Keyring) *Error {
	code := CodeAuthenticationFailed
	rule := "unclassified"
	tree := flatten(err)
	for _, r := range libraryRules {
		if slices.ContainsFunc(tree, r.match) {
			code, rule = r.code, r.name
			break
		}
	}
	cause := fmt.Errorf("%s: %w", rule, err)

	// With a reproduced context, a message that lacks a required key fails
	// inside KMS (the key is added to the KMS encryption context), so KMS
	// reports an invalid ciphertext. The header says which key is at fault.
	if kms != nil && (code == CodeAuthenticationFailed || code == CodeContextMismatch) {
		if problems := contextProblems(h, kms); len(problems) > 0 {
			return newError(CodeContextMismatch, cause, "the encryption context does not match the policy: %s", strings.Join(problems, "; "))
		}
	}
	switch code {
	case CodeKMSUnavailable:
		return newError(code, cause, "AWS KMS could not be reached or was throttled; retry the request")
	case CodeKMSAccessDenied:
		return newError(code, cause, "AWS KMS refused to decrypt with the configured key; check the task role's key policy and the key state")
	case CodeCommitmentPolicy:
		return newError(code, cause, "algorithm suite %s is not key-committing, which the KMS path requires (REQUIRE_ENCRYPT_REQUIRE_DECRYPT)", h.Suite)
	case CodeContextMismatch:
		return newError(code, cause, "the encryption context does not match the policy")
	case CodeTooManyEncryptedDataKeys:
		return newError(code, cause, "the message has too many encrypted data keys")
	case CodeMalformed:
		return newError(code, cause, "the ciphertext is truncated or malformed")
	}
	return newError(CodeAuthenticationFailed, cause, "the ciphertext failed authentication: it was changed, or it is not for the configured keys")
}

// contextProblems lists what is wrong with the header's encryption context
// under the KMS policy, by key name. Values are shown because purpose and
// intent are policy names, not secrets.
func contextProblems(h *Header, kms *kmsesdk.Keyring) []string {
	var problems []string
	purpose, ok := h.ContextValue(kmsesdk.ContextPurpose)
	switch {
	case !ok:
		problems = append(problems, fmt.Sprintf("key %q is missing", kmsesdk.ContextPurpose))
	case purpose != kms.Purpose():
		problems = append(problems, fmt.Sprintf("key %q is %q, want %q", kmsesdk.ContextPurpose, truncate(purpose), kms.Purpose()))
	}
	intent, ok := h.ContextValue(kmsesdk.ContextIntent)
	switch {
	case !ok:
		problems = append(problems, fmt.Sprintf("key %q is missing", kmsesdk.ContextIntent))
	case !kms.IntentAllowed(intent):
		problems = append(problems, fmt.Sprintf("key %q is %q, which is not an allowed intent", kmsesdk.ContextIntent, truncate(intent)))
	}
	return problems
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}

// flatten returns err and every error nested in it: wrapped errors, the
// libraries' CollectionOfErrors lists and OpaqueError objects.
func flatten(err error) []error {
	var out []error
	var walk func(error, int)
	walk = func(e error, depth int) {
		if e == nil || depth > 16 {
			return
		}
		out = append(out, e)
		switch v := e.(type) {
		case esdktypes.CollectionOfErrors:
			for _, child := range v.ListOfErrors {
				walk(child, depth+1)
			}
		case mpltypes.CollectionOfErrors:
			for _, child := range v.ListOfErrors {
				walk(child, depth+1)
			}
		case esdktypes.OpaqueError:
			if inner, ok := v.ErrObject.(error); ok {
				walk(inner, depth+1)
			}
		case mpltypes.OpaqueError:
			if inner, ok := v.ErrObject.(error); ok {
				walk(inner, depth+1)
			}
		case interface{ Unwrap() []error }:
			for _, child := range v.Unwrap() {
				walk(child, depth+1)
			}
		}
		walk(errors.Unwrap(e), depth+1)
	}
	walk(err, 0)
	return out
}

// libraryMessage returns the message field of the libraries' exception types,
// whose Error methods print a nil code pointer badly.
func libraryMessage(err error) string {
	switch v := err.(type) {
	case esdktypes.AwsEncryptionSdkException:
		return v.Message
	case esdktypes.CollectionOfErrors:
		return v.Message
	case mpltypes.AwsCryptographicMaterialProvidersException:
		return v.Message
	case mpltypes.InvalidAlgorithmSuiteInfoOnDecrypt:
		return v.Message
	case mpltypes.InvalidAlgorithmSuiteInfo:
		return v.Message
	case mpltypes.InvalidDecryptionMaterials:
		return v.Message
	case mpltypes.InvalidDecryptionMaterialsTransition:
		return v.Message
	case mpltypes.CollectionOfErrors:
		return v.Message
	case primtypes.AwsCryptographicPrimitivesError:
		return v.Message
	}
	return err.Error()
}

func messageContains(fragments ...string) func(error) bool {
	return func(err error) bool {
		msg := libraryMessage(err)
		for _, f := range fragments {
			if strings.Contains(msg, f) {
				return true
			}
		}
		return false
	}
}

func kmsErrorCode(codes ...string) func(error) bool {
	return func(err error) bool {
		var apiErr smithy.APIError
		return errors.As(err, &apiErr) && slices.Contains(codes, apiErr.ErrorCode())
	}
}

// isKMSUnavailable matches KMS failures that may clear on a retry: a
// retryable error code, an HTTP 5xx, a network error or a timeout.
func isKMSUnavailable(err error) bool {
	if kmsErrorCode(kmsUnavailableCodes...)(err) {
		return true
	}
	var op *smithy.OperationError
	if !errors.As(err, &op) || op.ServiceID != "KMS" {
		return false
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		var respErr *smithyhttp.ResponseError
		return errors.As(err, &respErr) && respErr.HTTPStatusCode() >= 500
	}
	// No API error code: the request never got a KMS response.
	var netErr net.Error
	return errors.As(err, &netErr) || errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "request send failed") ||
		strings.Contains(err.Error(), "exceeded maximum number of attempts")
}
