//go:build race

package decrypt

import "sync"

// esdkMu serializes ESDK calls in race-detector builds only.
//
// NOTE: the generated code of ESDK for Go v0.4.0 and MPL v0.4.0 calls
// `_dafny.EmptySeq.SetString()` on every decrypt (for example in
// AwsKmsUtils.OnDecryptMrkAwareEncryptedDataKeyFilter and
// RawRSAKeyring.OnDecrypt), which writes true to a flag of one global
// sequence. Concurrent decrypts therefore write the same value to the same
// byte, which the race detector reports although no result can change.
// Production builds decrypt in parallel; race builds serialize here so that
// the detector stays useful for the service's own code.
var esdkMu sync.Mutex

func lockESDK() (unlock func()) {
	esdkMu.Lock()
	return esdkMu.Unlock
}
