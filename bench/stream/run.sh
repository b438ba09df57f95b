#!/bin/sh
# Stream benchmark: end-to-end scorer throughput with the embedded broker in
# process (200k records, 28 numeric features, ~470 B JSON, ~1µs stand-in model),
# side by side with `kcat -C -e -o beginning -q` on the same topic (reported as
# ratio_vs_kcat), plus the p99 end-to-end latency bucket at 50,000 records/s.
# Usage: bench/stream/run.sh [records]   (needs kcat on PATH for the ratio)
set -eu
cd "$(dirname "$0")/../.."
command -v kcat >/dev/null || echo "warning: kcat not found; no kcat ratio" >&2
DRIFTD_BENCH_RECORDS="${1:-200000}" go test ./stream/ -run '^$' \
  -bench 'BenchmarkScorerEndToEnd|BenchmarkScorerLatency50k' -benchtime 1x -count 1 \
  -cpuprofile /tmp/driftd-stream.cpu -o /tmp/driftd-stream.test
echo "profile: go tool pprof -top /tmp/driftd-stream.test /tmp/driftd-stream.cpu"
