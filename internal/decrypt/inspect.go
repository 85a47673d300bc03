package decrypt

import (
	"encoding/hex"
	"fmt"
)

// Inspection is the JSON shape `processor inspect` prints. It describes a
// message header and never contains plaintext or key material.
type Inspection struct {
	FormatVersion     int                `json:"formatVersion"`
	AlgorithmSuite    InspectedSuite     `json:"algorithmSuite"`
	MessageID         string             `json:"messageId"`
	EncryptedDataKeys []InspectedDataKey `json:"encryptedDataKeys"`
	EncryptionContext []InspectedContext `json:"encryptionContext"`
	ContentType       string             `json:"contentType"`
	FrameLength       uint32             `json:"frameLength"`
	HeaderLength      int                `json:"headerLength"`
	MessageLength     int                `json:"messageLength"`
	Route             Scheme             `json:"route"`
}

// InspectedSuite names an algorithm suite.
type InspectedSuite struct {
	ID         string `json:"id"`
	Name       string `json:"name"`
	Committing bool   `json:"committing"`
	Signed     bool   `json:"signed"`
}

// InspectedDataKey describes one encrypted data key without its bytes.
type InspectedDataKey struct {
	ProviderID   string `json:"providerId"`
	ProviderInfo string `json:"providerInfo"`
	Length       int    `json:"length"`
}

// InspectedContext is one encryption-context pair.
type InspectedContext struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// publicKeyContextKey holds the signature verification key that signed suites
// put in the encryption context. It is public, but long; Inspect shortens it.
const publicKeyContextKey = "aws-crypto-public-key"

// Inspect decodes text with d's limits and describes its header. It never
// decrypts and makes no network call.
func (d *Decrypter) Inspect(text string) (*Inspection, error) {
	msg, err := d.Decode(text)
	if err != nil {
		return nil, err
	}
	h, err := ParseHeader(msg)
	if err != nil {
		return nil, newError(CodeMalformed, err, "the ciphertext is not a valid Encryption SDK message: %s", err)
	}
	out := &Inspection{
		FormatVersion: h.FormatVersion,
		AlgorithmSuite: InspectedSuite{
			ID: h.Suite.String(), Name: h.Suite.Name(), Committing: h.Suite.Committing(), Signed: h.Suite.Signed(),
		},
		MessageID:         hex.EncodeToString(h.MessageID),
		EncryptedDataKeys: make([]InspectedDataKey, 0, len(h.EncryptedDataKeys)),
		EncryptionContext: make([]InspectedContext, 0, len(h.EncryptionContext)),
		ContentType:       h.ContentType.String(),
		FrameLength:       h.FrameLength,
		HeaderLength:      h.Length,
		MessageLength:     len(msg),
		Route:             route(h),
	}
	for _, edk := range h.EncryptedDataKeys {
		out.EncryptedDataKeys = append(out.EncryptedDataKeys, InspectedDataKey{ProviderID: edk.ProviderID, ProviderInfo: edk.ProviderInfo, Length: edk.CiphertextLength})
	}
	for _, e := range h.EncryptionContext {
		value := e.Value
		if e.Key == publicKeyContextKey && len(value) > 16 {
			value = fmt.Sprintf("%s...%s (%d characters)", value[:8], value[len(value)-4:], len(value))
		}
		out.EncryptionContext = append(out.EncryptionContext, InspectedContext{Key: e.Key, Value: value})
	}
	return out, nil
}
