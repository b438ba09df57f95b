#!/usr/bin/env bash
# Full-product stream benchmark: `driftd serve` with its embedded broker, a
# 100-round GBDT on 28 numeric features and drift monitoring on, scoring N
# records that wait in Kafka, side by side with kcat's raw consume of the same
# topic on the same broker. Prints records/s for both and their ratio.
# Usage: bench/stream/serve.sh [records]   (needs kcat, curl)
# The report ends with driftd's peak and final resident memory (VmHWM, VmRSS).
# PROFILE=file.pprof also takes a 10 s CPU profile of driftd while it scores:
#   go tool pprof -top driftd file.pprof
set -euo pipefail
cd "$(dirname "$0")/../.."
N="${1:-400000}"
work=$(mktemp -d /tmp/driftd-stream-bench.XXXXXX)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

go build -o "$work/driftd" .
D="$work/driftd"
"$D" gen --rows 50000 --features 28 --seed 1 --out "$work/train.csv"
"$D" train --data "$work/train.csv" --target label --id id --rounds 100 --out "$work/model.drift" >/dev/null 2>&1
"$D" gen --rows "$N" --features 28 --seed 2 --drift "f0:shift=0.5" --out "$work/stream.csv"

http=127.0.0.1:$(free_port); kafka=127.0.0.1:$(free_port)
DRIFTD_ADDR=$http DRIFTD_KAFKA_LISTEN=$kafka DRIFTD_DATA_DIR="$work/data" DRIFTD_API_TOKEN=bench \
  DRIFTD_ADMIN_PASSWORD=bench-password DRIFTD_LOG_LEVEL=warn "$D" serve 2>"$work/serve.log" &
pid=$!
for _ in $(seq 100); do curl -sf "http://$http/healthz" >/dev/null && break; sleep 0.1; done

# With no model deployed the scorer does not consume: every record waits.
"$D" produce --data "$work/stream.csv" --brokers "$kafka" 2>&1 | tail -1

t0=$(date +%s.%N)
read -r got kbytes < <(kcat -C -b "$kafka" -t drift-data -o beginning -e -q | wc -lc)
t1=$(date +%s.%N)
kcat_rate=$(echo "$got / ($t1 - $t0)" | bc -l)

auth=(-H "Authorization: Bearer bench")
curl -sf "${auth[@]}" -H 'Content-Type: application/octet-stream' --data-binary @"$work/model.drift" \
  "http://$http/api/v1/models/drift-model/versions" >/dev/null
t0=$(date +%s.%N)
curl -sf "${auth[@]}" -H 'Content-Type: application/json' \
  -d '{"version":"1.0.0","environment":"production","reason":"bench"}' "http://$http/api/v1/models/drift-model/deploy" >/dev/null
if [ -n "${PROFILE:-}" ]; then
  curl -sf "${auth[@]}" -o "$PROFILE" "http://$http/debug/pprof/profile?seconds=10" &
  prof_pid=$!
fi
while :; do
  # grep, not a python3 start every 50 ms, which would take a core's share from driftd
  produced=$(curl -sf "${auth[@]}" "http://$http/api/v1/scorer" | grep -o '"produced": *[0-9]*' | grep -o '[0-9]*$')
  [ "$produced" -ge "$N" ] && break
  sleep 0.05
done
t1=$(date +%s.%N)
[ -n "${PROFILE:-}" ] && { wait "$prof_pid" || true; cp "$D" "${PROFILE%.*}.bin"; echo "profile: go tool pprof -top ${PROFILE%.*}.bin $PROFILE"; }
driftd_rate=$(echo "$N / ($t1 - $t0)" | bc -l)
checks=$(curl -sf "http://$http/metrics" | awk '/^driftd_drift_checks_total/ {print $2}')

printf '\nrecords            %d (%.0f bytes per JSON record)\n' "$N" "$(echo "$kbytes / $got" | bc -l)"
printf 'kcat -C raw        %10.0f records/s (consume only, to /dev/null)\n' "$kcat_rate"
printf 'driftd end-to-end  %10.0f records/s (decode, GBDT 100 rounds, drift window, produce, commit)\n' "$driftd_rate"
printf 'ratio              %10.2f of kcat raw consume\n' "$(echo "$driftd_rate / $kcat_rate" | bc -l)"
printf 'drift checks       %10s\n' "$checks"
printf 'driftd memory      %10s MB peak resident, %s MB at the end (embedded broker included)\n' \
  "$(awk '/^VmHWM/ {printf "%.0f", $2/1024}' /proc/$pid/status)" "$(awk '/^VmRSS/ {printf "%.0f", $2/1024}' /proc/$pid/status)"
