#!/usr/bin/env bash
# Scale-out benchmark: scoring throughput of one primary (DRIFTD_CLUSTER=true)
# alone, then of the primary and one DRIFTD_ROLE=worker, each process limited
# to GOMAXPROCS=1, on the same records (a 100-round GBDT on 28 numeric
# features, drift monitoring on as `driftd serve` ships it). Each run gets a
# fresh `driftd broker` and a features topic of 6 partitions; the records are
# produced while nothing is deployed (the scorers are already in the consumer
# group, paused, so every record waits and no rebalance happens later), then
# the model is deployed on the primary and the clock runs from the deploy call
# to the last prediction. Prints records/s for 1 and 2 processes, their ratio,
# each process's share of the records and the CPU each process and the broker
# used.
# Usage: bench/cluster/scale.sh   (needs curl, bc, python3 for free ports)
#   RECORDS=n   records per run (default 200000)
#   OUT=file    also write the report to file
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
R="${RECORDS:-200000}"
# The script names the topics, group, model and environment by their defaults.
unset KAFKA_TOPIC KAFKA_GROUP_ID DRIFTD_MODEL DRIFTD_SCORING_ENVIRONMENT DRIFTD_ROLE DRIFTD_CLUSTER KAFKA_BOOTSTRAP_SERVERS
work=$(mktemp -d /tmp/driftd-cluster-bench.XXXXXX)
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
calc() { echo "$1" | bc -l; }
# cpu PID: user+system seconds the process has used so far.
cpu() { awk -v t="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' "/proc/$1/stat"; }
# until_ok SECONDS WHAT COMMAND...: run COMMAND every 0.2 s until it succeeds.
until_ok() {
  local deadline=$(($(date +%s) + $1)) what=$2
  shift 2
  until "$@"; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "timed out waiting for $what; the end of the logs:" >&2
      tail -n 20 "$work"/*/*.log >&2 || true
      exit 1
    fi
    sleep 0.2
  done
}

(cd "$root" && go build -o "$work/driftd" .)
D="$work/driftd"
cd "$work" # so that no ./.env or ./data of the caller's is read
cores=$(nproc)
"$D" gen --rows 50000 --features 28 --seed 1 --out "$work/train.csv"
"$D" train --data "$work/train.csv" --target label --id id --rounds 100 --out "$work/model.drift" >/dev/null 2>&1
"$D" gen --rows "$R" --features 28 --seed 2 --out "$work/stream.csv"

mkdir -p "$work/secrets"
od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$work/secrets/api-token"
od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$work/secrets/session-key"
chmod 600 "$work/secrets"/*
auth=(-H "Authorization: Bearer $(cat "$work/secrets/api-token")")

# counter ADDR TOPIC: driftd_records_produced_total of TOPIC at ADDR (0 before the first).
counter() {
  curl -sf "http://$1/metrics" |
    awk -v t="$2" 'index($0, "driftd_records_produced_total{topic=\"" t "\"} ") == 1 { n = $2 } END { print n + 0 }'
}
healthy() { curl -sf "http://$1/healthz" >/dev/null; }
broker_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
# members_are ADDR N: the primary at ADDR sees the scorers' consumer group
# stable with N members.
members_are() {
  curl -sf "${auth[@]}" "http://$1/api/v1/kafka/groups" |
    grep -q "\"group\": *\"drift-monitor-group\", *\"state\": *\"Stable\", *\"members\": *$2[,}]"
}
all_scored() {
  local sum=0 a
  for a in "${addrs[@]}"; do sum=$((sum + $(counter "$a" predictions))); done
  [ "$sum" -ge "$R" ]
}
# prediction_time ADDR PARTITION first|last: the Kafka timestamp (set when it
# was produced, in epoch seconds) of the first or last prediction on that
# partition, read back through the primary at ADDR; nothing when it has none.
prediction_time() {
  local q="newest=1"
  [ "$3" = first ] && q="offset=0&limit=1"
  curl -sf "${auth[@]}" "http://$1/api/v1/kafka/topics/predictions/messages?partition=$2&$q" |
    grep -o '"timestamp": *"[^"]*"' | head -n 1 | cut -d'"' -f4 |
    while read -r ts; do date -d "$ts" +%s.%N; done
}

# run N: a fresh broker, a primary and N-1 workers. Sets secs, rate, startup,
# steady, share and extra for the report.
run() {
  local n=$1 dir="$work/n$1" kport broker i addr p k
  mkdir -p "$dir"
  kport=$(free_port)
  DRIFTD_LOG_LEVEL=warn "$D" broker --listen "127.0.0.1:$kport" --data-dir "$dir/kafka" --kafka-partitions 6 \
    >"$dir/broker.log" 2>&1 &
  broker=$!
  pids+=("$broker")
  until_ok 30 "the broker on :$kport" broker_up "$kport"

  export KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:$kport DRIFTD_KAFKA_PARTITIONS=6 GOMAXPROCS=1 DRIFTD_LOG_LEVEL=warn \
    DRIFTD_API_TOKEN_FILE="$work/secrets/api-token" DRIFTD_SESSION_KEY_FILE="$work/secrets/session-key"
  addrs=()
  local -a procs=()
  for i in $(seq "$n"); do
    addr=127.0.0.1:$(free_port)
    if [ "$i" = 1 ]; then
      DRIFTD_CLUSTER=true DRIFTD_ADMIN_PASSWORD=bench-password \
        "$D" serve --addr "$addr" --data-dir "$dir/primary" 2>"$dir/primary.log" &
    else
      DRIFTD_ROLE=worker "$D" serve --addr "$addr" --data-dir "$dir/worker$i" 2>"$dir/worker$i.log" &
    fi
    pids+=($!)
    procs+=($!)
    addrs+=("$addr")
  done
  unset KAFKA_BOOTSTRAP_SERVERS DRIFTD_KAFKA_PARTITIONS GOMAXPROCS DRIFTD_LOG_LEVEL \
    DRIFTD_API_TOKEN_FILE DRIFTD_SESSION_KEY_FILE
  for addr in "${addrs[@]}"; do until_ok 60 "$addr/healthz" healthy "$addr"; done
  # Every scorer joins the group at start, paused, so the partitions are
  # split before the first record is scored.
  until_ok 60 "$n member(s) in the scorers' consumer group" members_are "${addrs[0]}" "$n"

  "$D" produce --data "$work/stream.csv" --brokers "127.0.0.1:$kport" >"$dir/produce.log" 2>&1
  curl -sf "${auth[@]}" -H 'Content-Type: application/octet-stream' --data-binary @"$work/model.drift" \
    "http://${addrs[0]}/api/v1/models/drift-model/versions?version=1.0.0" >/dev/null
  for addr in "${addrs[@]}"; do
    [ "$(counter "$addr" predictions)" = 0 ] || { echo "$addr scored before the deployment" >&2; exit 1; }
  done

  local -a cpu0=()
  for p in "${procs[@]}" "$broker"; do cpu0+=("$(cpu "$p")"); done
  local t0
  t0=$(now)
  curl -sf "${auth[@]}" -H 'Content-Type: application/json' \
    -d '{"version":"1.0.0","environment":"production","reason":"bench"}' \
    "http://${addrs[0]}/api/v1/models/drift-model/deploy" >/dev/null
  until_ok 1800 "$R predictions" all_scored
  local -a cpus=()
  k=0
  for p in "${procs[@]}" "$broker"; do
    cpus+=("$(calc "$(cpu "$p") - ${cpu0[$k]}")")
    k=$((k + 1))
  done

  local total=0 dead=0 c
  local -a counts=()
  for addr in "${addrs[@]}"; do
    c=$(counter "$addr" predictions)
    counts+=("$c")
    total=$((total + c))
    dead=$((dead + $(counter "$addr" dead-letter)))
  done

  # The poll sees the end up to 0.2 s late; the predictions' own timestamps
  # say when scoring began and ended.
  local first="" last="" ts
  for p in $(seq 0 5); do
    ts=$(prediction_time "${addrs[0]}" "$p" first)
    if [ -n "$ts" ] && { [ -z "$first" ] || [ "$(calc "$ts < $first")" = 1 ]; }; then first=$ts; fi
    ts=$(prediction_time "${addrs[0]}" "$p" last)
    if [ -n "$ts" ] && { [ -z "$last" ] || [ "$(calc "$ts > $last")" = 1 ]; }; then last=$ts; fi
  done
  [ -n "$first" ] && [ -n "$last" ] || { echo "could not read the predictions' timestamps back" >&2; exit 1; }
  secs=$(calc "$last - $t0")
  rate=$(calc "$R / $secs")
  startup=$(calc "$first - $t0")
  steady=$(calc "$R / ($last - $first)")

  share=""
  for k in "${!counts[@]}"; do
    local who=primary
    [ "$k" -gt 0 ] && who="worker$((k + 1))"
    share+=$(printf '%s %d (%.0f%%, %.2f cpu-s, %.1f cpu-us/record)   ' "$who" "${counts[$k]}" \
      "$(calc "100 * ${counts[$k]} / $total")" "${cpus[$k]}" "$(calc "1000000 * ${cpus[$k]} / ${counts[$k]}")")
  done
  share+=$(printf 'broker %.2f cpu-s' "${cpus[-1]}")
  extra=""
  if [ "$total" -gt "$R" ]; then extra+="; $((total - R)) scored twice (a rebalance during the run)"; fi
  if [ "$dead" -gt 0 ]; then extra+="; $dead dead-lettered"; fi
  stop_all
}

run 1
secs1=$secs rate1=$rate startup1=$startup steady1=$steady share1=$share extra1=$extra
run 2
secs2=$secs rate2=$rate startup2=$startup steady2=$steady share2=$share extra2=$extra

{
  printf '\nrecords    %d per run: 28 numeric features, 100-round GBDT, drift as driftd serve ships it, 6 partitions\n' "$R"
  printf 'machine    %d cores (nproc): 2 scoring processes of GOMAXPROCS=1 each is the most it can show,\n' "$cores"
  printf '           and the broker, the polling curl and everything else on the machine share those cores\n'
  printf '\nprocesses  records/s  seconds  first prediction  records/s first to last\n'
  printf '1          %9.0f  %7.2f  %14.2fs  %9.0f\n' "$rate1" "$secs1" "$startup1" "$steady1"
  printf '2          %9.0f  %7.2f  %14.2fs  %9.0f\n' "$rate2" "$secs2" "$startup2" "$steady2"
  printf 'ratio 2/1  %9.2f  %7s  %15s  %9.2f\n' "$(calc "$rate2 / $rate1")" "" "" "$(calc "$steady2 / $steady1")"
  printf '\nper process: predictions acknowledged, share, CPU used from the deploy to the end and per record\n'
  printf '(the CPU includes loading the model and the 0.2 s polls at the end)\n'
  printf '1          %s%s\n' "$share1" "$extra1"
  printf '2          %s%s\n' "$share2" "$extra2"
  printf '\nrecords/s and seconds run from the deploy call on the primary to the Kafka timestamp of the last\n'
  printf 'prediction (a worker reads the deployment and loads the model in that time); "first prediction" is\n'
  printf 'when the first was produced, and the last column leaves that start out.\n'
} | tee "${OUT:-/dev/null}"
