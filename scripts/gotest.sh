#!/usr/bin/env bash
# Runs `go test` with the given arguments, copies its output to the log
# file named first, and closes with one line that counts the tested
# packages, so the end of a long run shows the result:
#
#   scripts/gotest.sh .cache/logs/race.log -race -count=1 ./...
#   ...
#   packages: 24 passed, 1 failed
#   failed: github.com/.../internal/store/pgstore
#
# The exit status is the one of `go test`.
set -uo pipefail

log=$1
shift
mkdir -p "$(dirname "$log")"

start=$SECONDS
go test "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
echo "go test ran for $((SECONDS - start)) s"

# go test prints one line per package: "ok  <pkg> <time>", "FAIL <pkg>
# <time>" (also "[build failed]" or "[setup failed]"), or "? <pkg> [no test
# files]".
passed=$(grep -c '^ok ' "$log")
failed_packages=$(awk -F '\t' '$1 == "FAIL" && NF > 1 { print $2 }' "$log" | awk '{ print $1 }' | sort -u)
failed=$(grep -c . <<<"$failed_packages")
echo "packages: $passed passed, $failed failed"
if [[ $failed -gt 0 ]]; then
	echo "failed: $(paste -sd ' ' <<<"$failed_packages")"
fi
exit "$status"
