#!/usr/bin/env bash
# TEST ONLY. Regenerates the ESDK interoperability vectors in this folder
# with the official JavaScript ESDK, pinned in package.json and
# package-lock.json.
#
#   1. npm ci installs the pinned @aws-crypto/client-node.
#   2. tools/local-kms-serve runs local-kms with the seeded test keys of
#      internal/testkit/localkms on 127.0.0.1 and writes its endpoint and key
#      ARNs to a JSON file.
#   3. node gen.mjs writes the vectors and manifest.json; it reads the
#      local-kms details from the file named by LOCAL_KMS_INFO.
#   4. go test checks that the Go ESDK decrypts every positive vector and
#      rejects the negative ones.
#
# Ciphertexts change on every run (random data keys, IVs and signing keys);
# the vector list, metadata and expected codes do not.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
work="$(mktemp -d)"
kms_pid=""

cleanup() {
  if [[ -n "$kms_pid" ]]; then
    kill "$kms_pid" 2>/dev/null || true
    wait "$kms_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

cd "$here"
npm ci --no-audit --no-fund

(cd "$root" && go build -o "$work/local-kms-serve" ./tools/local-kms-serve)
# local-kms logs every request; keep that out of the terminal.
"$work/local-kms-serve" -addr 127.0.0.1:0 -info "$work/local-kms.json" 2>"$work/local-kms.log" &
kms_pid=$!

# Wait up to 10 seconds for local-kms to listen and write its details.
for _ in $(seq 100); do
  [[ -s "$work/local-kms.json" ]] && break
  if ! kill -0 "$kms_pid" 2>/dev/null; then
    cat "$work/local-kms.log" >&2
    echo "generate.sh: local-kms-serve exited before it was ready" >&2
    exit 1
  fi
  sleep 0.1
done
if [[ ! -s "$work/local-kms.json" ]]; then
  echo "generate.sh: local-kms-serve did not write $work/local-kms.json within 10 seconds" >&2
  exit 1
fi

LOCAL_KMS_INFO="$work/local-kms.json" node gen.mjs

cd "$root"
go test -count=1 ./internal/testkit/vectors/
