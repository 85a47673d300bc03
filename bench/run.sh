#!/usr/bin/env bash
# Measures three things in one run on the committed vectors: the Go crypto
# floor (RSA-OAEP-SHA512 decrypt plus ECDSA P-384 verify), the service's
# decrypt of Connect DTMF messages (2048 and 4096-bit keys) and of a KMS token
# through local-kms, and the official JavaScript ESDK decrypting the same
# Connect messages in one Node process. Prints operations per second per core
# and the ratios.
#
#   bash bench/run.sh
#
# Settings (environment variables):
#   BENCH_ROUNDS      rounds; each runs every Go benchmark once and then the
#                     Node benchmark once, so the two share the machine's state
#                     (default 6, the fewest for which benchstat
#                     gives a confidence interval)
#   BENCH_BENCHTIME   -benchtime of each Go benchmark (default 1s)
#   BENCH_NODE_MS     timed loop of each Node round in milliseconds (default 1000)
#   BENCH_NODE_WARMUP warm-up of each Node round in milliseconds (default 1500)
#   BENCH_OUT         folder for the raw output (default .cache/bench/<time>)
#
# Go runs with GOMAXPROCS=1 and Node decrypts one message at a time, so both
# figures are per core. Other processes on the machine slow both in wall-clock
# time, so the summary also divides by process CPU time (bench/cputime for Go,
# process.cpuUsage in Node), and the load average is printed before and after.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
rounds="${BENCH_ROUNDS:-6}"
benchtime="${BENCH_BENCHTIME:-1s}"
node_ms="${BENCH_NODE_MS:-1000}"
node_warmup="${BENCH_NODE_WARMUP:-1500}"
out="${BENCH_OUT:-$root/.cache/bench/$(date -u +%Y%m%dT%H%M%SZ)}"
# Pinned so that every run formats its summary the same way.
benchstat_module="golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da"

for tool in go node npm; do
  if ! command -v "$tool" >/dev/null; then
    echo "run.sh: $tool not found on PATH; install it and run again" >&2
    exit 1
  fi
done
mkdir -p "$out"
cd "$root"

echo "== machine"
{
  echo "date:    $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc:   $(nproc)"
  echo "cpu:     $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "go:      $(go version)"
  echo "node:    $(node --version)"
  echo "commit:  $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$out/machine.txt"

echo "== preparing"
(cd bench/node && npm ci --no-audit --no-fund --loglevel=error)
go test -c -o "$out/decrypt.test" ./internal/decrypt
go test -c -o "$out/cputime.test" ./bench/cputime
benchstat=""
if [[ -x "$root/.cache/bin/benchstat" ]]; then
  benchstat="$root/.cache/bin/benchstat"
elif command -v benchstat >/dev/null; then
  benchstat="$(command -v benchstat)"
elif GOBIN="$root/.cache/bin" go install "$benchstat_module" 2>"$out/benchstat-install.log"; then
  benchstat="$root/.cache/bin/benchstat"
else
  echo "run.sh: installing benchstat failed (see $out/benchstat-install.log), so only the summary below is printed" >&2
fi

: >"$out/go-bench.log"
for ((i = 1; i <= rounds; i++)); do
  echo "== round $i of $rounds: Go"
  # The test binary runs in its package folder, as `go test` would run it.
  # local-kms logs every request on stdout, so the output goes to
  # go-bench.log and benchreport picks the results out of it.
  (cd internal/decrypt && GOMAXPROCS=1 "$out/decrypt.test" -test.run '^$' -test.bench . \
    -test.benchtime "$benchtime" -test.count 1 -test.benchmem) >>"$out/go-bench.log" 2>&1
  (cd bench/cputime && GOMAXPROCS=1 "$out/cputime.test" -test.run '^$' -test.bench '^BenchmarkCPU' \
    -test.benchtime "$benchtime" -test.count 1 -test.benchmem) >>"$out/go-bench.log" 2>&1
  echo "== round $i of $rounds: Node"
  node bench/node/bench.mjs --rounds 1 --round-ms "$node_ms" --warmup-ms "$node_warmup" >"$out/node-$i.json"
done

echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/machine.txt"

# benchreport also writes the Go results one per line to go-bench.txt,
# because local-kms log lines can split a result line in go-bench.log.
go build -o "$out/benchreport" ./bench/cmd/benchreport
summary="$("$out/benchreport" -go "$out/go-bench.log" -normalized-out "$out/go-bench.txt" "$out"/node-*.json)"

if [[ -n "$benchstat" ]]; then
  echo "== benchstat (Go, GOMAXPROCS=1)"
  "$benchstat" "$out/go-bench.txt" | tee "$out/benchstat.txt"
fi

echo "== summary (median ±largest deviation of a round from it, over $rounds rounds)"
echo "$summary" | tee "$out/report.txt"
echo "raw output: $out"
