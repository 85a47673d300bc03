package decrypt

import "fmt"

// Suite is an ESDK algorithm suite id, such as 0x0378.
type Suite uint16

type suiteInfo struct {
	name            string
	formatVersion   int
	keyDerivation   bool
	committing      bool
	signed          bool
	suiteDataLength int
}

// suites lists every suite the ESDK message format defines, from the ESDK
// algorithms reference (docs.aws.amazon.com/encryption-sdk/latest/developer-guide/algorithms-reference.html).
var suites = map[Suite]suiteInfo{
	0x0014: {name: "AES_128_GCM_IV12_TAG16_NO_KDF", formatVersion: 1},
	0x0046: {name: "AES_192_GCM_IV12_TAG16_NO_KDF", formatVersion: 1},
	0x0078: {name: "AES_256_GCM_IV12_TAG16_NO_KDF", formatVersion: 1},
	0x0114: {name: "AES_128_GCM_IV12_TAG16_HKDF_SHA256", formatVersion: 1, keyDerivation: true},
	0x0146: {name: "AES_192_GCM_IV12_TAG16_HKDF_SHA256", formatVersion: 1, keyDerivation: true},
	0x0178: {name: "AES_256_GCM_IV12_TAG16_HKDF_SHA256", formatVersion: 1, keyDerivation: true},
	0x0214: {name: "AES_128_GCM_IV12_TAG16_HKDF_SHA256_ECDSA_P256", formatVersion: 1, keyDerivation: true, signed: true},
	0x0346: {name: "AES_192_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384", formatVersion: 1, keyDerivation: true, signed: true},
	0x0378: {name: "AES_256_GCM_IV12_TAG16_HKDF_SHA384_ECDSA_P384", formatVersion: 1, keyDerivation: true, signed: true},
	0x0478: {name: "AES_256_GCM_HKDF_SHA512_COMMIT_KEY", formatVersion: 2, keyDerivation: true, committing: true, suiteDataLength: 32},
	0x0578: {name: "AES_256_GCM_HKDF_SHA512_COMMIT_KEY_ECDSA_P384", formatVersion: 2, keyDerivation: true, committing: true, signed: true, suiteDataLength: 32},
}

// String returns the suite id in the 0x%04x form the ESDK documentation uses.
func (s Suite) String() string { return fmt.Sprintf("0x%04X", uint16(s)) }

// Name returns the suite's ESDK name, or "unknown".
func (s Suite) Name() string {
	if info, ok := suites[s]; ok {
		return info.name
	}
	return "unknown"
}

// Known reports whether the ESDK message format defines s.
func (s Suite) Known() bool { _, ok := suites[s]; return ok }

// Committing reports whether s commits to its data key.
func (s Suite) Committing() bool { return suites[s].committing }

// HasKeyDerivation reports whether s derives its data key with HKDF; the
// legacy suites without it are never accepted.
func (s Suite) HasKeyDerivation() bool { return suites[s].keyDerivation }

// Signed reports whether s ends the message with an ECDSA signature.
func (s Suite) Signed() bool { return suites[s].signed }

// ParseSuite reads "0x0378" or "0378" (case-insensitive).
func ParseSuite(text string) (Suite, error) {
	var v uint16
	trimmed := text
	if len(trimmed) > 2 && (trimmed[:2] == "0x" || trimmed[:2] == "0X") {
		trimmed = trimmed[2:]
	}
	if _, err := fmt.Sscanf(trimmed, "%04x", &v); err != nil || len(trimmed) != 4 {
		return 0, fmt.Errorf("algorithm suite %q is not a 4-digit hex id such as 0x0378", text)
	}
	s := Suite(v)
	if !s.Known() {
		return 0, fmt.Errorf("algorithm suite %q is not an ESDK suite", text)
	}
	return s, nil
}
