package decrypt

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"slices"
	"testing"

	mpltypes "github.com/aws/aws-cryptographic-material-providers-library/releases/go/mpl/awscryptographymaterialproviderssmithygeneratedtypes"
	primtypes "github.com/aws/aws-cryptographic-material-providers-library/releases/go/primitives/awscryptographyprimitivessmithygeneratedtypes"
	esdktypes "github.com/aws/aws-encryption-sdk/releases/go/encryption-sdk/awscryptographyencryptionsdksmithygeneratedtypes"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// keyringFailure wraps errs the way the MPL's multi-keyring reports that no
// keyring decrypted the data key.
func keyringFailure(errs ...error) error {
	return mpltypes.CollectionOfErrors{
		Message:      "No Configured Keyring was able to decrypt the Data Key. The list of encountered Exceptions is available via `list`.",
		ListOfErrors: errs,
	}
}

func kmsOperationError(err error) error {
	return &smithy.OperationError{ServiceID: "KMS", OperationName: "Decrypt", Err: err}
}

func kmsAPIError(code string, status int) error {
	return kmsOperationError(&smithyhttp.ResponseError{
		Response: &smithyhttp.Response{Response: &http.Response{StatusCode: status}},
		Err:      &smithy.GenericAPIError{Code: code, Message: "test"},
	})
}

func esdkException(msg string) error { return esdktypes.AwsEncryptionSdkException{Message: msg} }
func mplException(msg string) error {
	return mpltypes.AwsCryptographicMaterialProvidersException{Message: msg}
}

// TestClassifyLibraryRules pins every rule of the mapping table with an error
// shaped like the one ESDK v0.4.0, MPL v0.4.0 and the KMS client produce.
func TestClassifyLibraryRules(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Code
	}{
		{"kms connection refused", keyringFailure(kmsOperationError(&net.OpError{Op: "dial", Err: errors.New("connection refused")})), CodeKMSUnavailable},
		{"kms throttling", keyringFailure(kmsAPIError("ThrottlingException", 400)), CodeKMSUnavailable},
		{"kms internal error", keyringFailure(kmsAPIError("KMSInternalException", 500)), CodeKMSUnavailable},
		{"kms unknown 503", keyringFailure(kmsAPIError("SomethingNew", 503)), CodeKMSUnavailable},
		{"kms access denied", keyringFailure(kmsAPIError("AccessDeniedException", 400)), CodeKMSAccessDenied},
		{"kms key disabled", keyringFailure(kmsAPIError("DisabledException", 400)), CodeKMSAccessDenied},
		{"kms key pending deletion", keyringFailure(kmsAPIError("KMSInvalidStateException", 400)), CodeKMSAccessDenied},
		{"commitment policy", mpltypes.InvalidAlgorithmSuiteInfoOnDecrypt{Message: "Configuration conflict. Commitment policy requires only committing algorithm suites"}, CodeCommitmentPolicy},
		{"reproduced context mismatch", mplException("Encryption context does not match reproduced encryption context."), CodeContextMismatch},
		{"required keys missing", mplException("Reproduced encryption context missing required keys."), CodeContextMismatch},
		{"too many encrypted data keys", esdkException("Ciphertext encrypted data keys exceed maxEncryptedDataKeys"), CodeTooManyEncryptedDataKeys},
		{"incomplete message", esdkException("Incomplete message: ReadFramedMessageBody"), CodeMalformed},
		{"unsupported content type", esdkException("Unsupported ContentType value."), CodeMalformed},
		{"reserved bytes", esdkException("Incorrect reserved bytes."), CodeMalformed},
		{"data after footer", esdkException("Data after message footer."), CodeMalformed},
		{"frame order", esdkException("Sequence number out of order."), CodeMalformed},
		{"kms invalid ciphertext", keyringFailure(kmsAPIError("InvalidCiphertextException", 400)), CodeAuthenticationFailed},
		{"kms incorrect key", keyringFailure(kmsAPIError("IncorrectKeyException", 400)), CodeAuthenticationFailed},
		{"invalid signature", esdkException("Invalid signature"), CodeAuthenticationFailed},
		{"commitment key mismatch", esdkException("Commitment key does not match"), CodeAuthenticationFailed},
		{"aes-gcm tag", primtypes.AwsCryptographicPrimitivesError{Message: "cipher: message authentication failed"}, CodeAuthenticationFailed},
		{"rsa unwrap", keyringFailure(mpltypes.CollectionOfErrors{
			Message:      "Raw RSA Key was unable to decrypt any encrypted data key.",
			ListOfErrors: []error{primtypes.AwsCryptographicPrimitivesError{Message: "crypto/rsa: decryption error"}},
		}), CodeAuthenticationFailed},
		{"verification key missing", mplException("Encryption Context missing verification key."), CodeAuthenticationFailed},
		{"library panic", &libraryPanic{value: "runtime.boundsError"}, CodeMalformed},
		{"opaque wrapper", esdktypes.OpaqueError{ErrObject: esdkException("Incomplete message")}, CodeMalformed},
		{"unknown failure", errors.New("something the table does not know"), CodeAuthenticationFailed},
	}
	h := &Header{Suite: 0x0378}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := classify(tt.err, h, nil)
			if got.Code != tt.want {
				t.Errorf("classify(%s) = %s, want %s (cause: %v)", tt.name, got.Code, tt.want, got.Unwrap())
			}
			if got.Unwrap() == nil {
				t.Errorf("classify(%s) lost the library error as its cause", tt.name)
			}
		})
	}
}

// TestClassifyRulesAllTested fails when a rule is added to the table without
// a case above that reaches it.
func TestClassifyRulesAllTested(t *testing.T) {
	reached := map[string]bool{}
	samples := []error{
		keyringFailure(kmsOperationError(&net.OpError{Op: "dial", Err: errors.New("refused")})),
		keyringFailure(kmsAPIError("AccessDeniedException", 400)),
		mpltypes.InvalidAlgorithmSuiteInfoOnDecrypt{Message: "Commitment policy requires only committing algorithm suites"},
		mplException("does not match reproduced encryption context"),
		esdkException("exceed maxEncryptedDataKeys"),
		esdkException("Incomplete message"),
		keyringFailure(kmsAPIError("InvalidCiphertextException", 400)),
		esdkException("Invalid signature"),
		&libraryPanic{value: "x"},
	}
	for _, sample := range samples {
		for _, r := range libraryRules {
			if slices.ContainsFunc(flatten(sample), r.match) {
				reached[r.name] = true
				break
			}
		}
	}
	for _, r := range libraryRules {
		if !reached[r.name] {
			t.Errorf("rule %q has no sample that reaches it", r.name)
		}
	}
}

func TestErrorMessageHasNoCause(t *testing.T) {
	err := classify(esdkException("Invalid signature"), &Header{Suite: 0x0378}, nil)
	if got := err.Error(); got != fmt.Sprintf("%s: %s", err.Code, err.Message) {
		t.Errorf("Error() = %q, want code and message only", got)
	}
}
