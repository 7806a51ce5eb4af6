#!/usr/bin/env bash
# Costs per query at a fixed rate on loopback (issue #16): CPU, context
# switches and system calls of one server process, for `netagent dns
# serve` (the resolver code on one current-thread runtime, as the agent's
# dns thread runs it), for the C floor (floor.c) and for dnsmasq on the
# same loopback path (its local name from a hosts file, the rest forwarded
# to the floor), so the three are compared over the same kernel path in
# one run. Root for perf.
#
#   bench/floor/profile.sh RATE SECONDS BINARY...   (several binaries: A/B,
#   interleaved over ROUNDS rounds, default 2, the same load for each)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
rate=${1:-5000}
seconds=${2:-10}
shift 2
binaries=("${@:-${NETAGENT_BIN:?give binaries or NETAGENT_BIN}}")
work=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$work"' EXIT
rounds=${ROUNDS:-2}
gcc -O2 -o "$work/floor" "$here/floor.c"
for i in $(seq 1 200); do echo "web A"; done >"$work/local"
# The address tests/data/table.json gives "web", for dnsmasq's hosts file.
echo "10.89.0.2 web" >"$work/hosts"
for i in $(seq 1 $((rate * seconds + 1000))); do echo "q$i.cold.example A"; done >"$work/cold"
"$work/floor" 127.0.0.1 5399 &
floor=$!
# dnsmasq at its default --dns-forward-max: it walks ftabsize/2 socket slots
# on every wake-up, so a large one doubles its cost per answer here.
dnsmasq -k --user=root --conf-file=/dev/null --no-resolv --no-hosts --addn-hosts="$work/hosts" \
  --server=127.0.0.1#5399 --listen-address=127.0.0.1 --bind-interfaces --port=5398 \
  --pid-file= >/dev/null 2>&1 &
dnsmasq=$!
pids=()
for i in "${!binaries[@]}"; do
  "${binaries[$i]}" dns serve --table "$here/../../tests/data/table.json" --as client \
    --listen 127.0.0.1:$((5400 + i)) --upstream 127.0.0.1:5399 >/dev/null 2>&1 &
  pids+=($!)
done
sleep 1
measure() { # label pid port file
  local label=$1 pid=$2 port=$3 file=$4
  local t0 c0
  t0=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  c0=$(cat /proc/"$pid"/task/*/status | awk '/ctxt_switches/ {s += $2} END {print s}')
  perf stat -x, -e task-clock,context-switches,raw_syscalls:sys_enter,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_write -p "$pid" \
    -o "$work/perf" -- sleep "$seconds" &
  local perfpid=$!
  dnsperf -s 127.0.0.1 -p "$port" -d "$file" -l "$seconds" -Q "$rate" -c 1 -q 100 >"$work/out"
  wait $perfpid || true
  local t1 c1 done
  t1=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  c1=$(cat /proc/"$pid"/task/*/status | awk '/ctxt_switches/ {s += $2} END {print s}')
  done=$(awk '/Queries completed/ {print $3}' "$work/out")
  local sys ep wr
  sys=$(awk -F, '/raw_syscalls/ {print $1}' "$work/perf")
  ep=$(awk -F, '/sys_enter_epoll_wait/ {print $1}' "$work/perf")
  wr=$(awk -F, '/sys_enter_write/ {print $1}' "$work/perf")
  awk -v l="$label" -v t=$((t1 - t0)) -v c=$((c1 - c0)) -v d="$done" -v s="$sys" -v e="$ep" -v w="$wr" \
    -v hz="$(getconf CLK_TCK)" 'BEGIN {
      printf "%-16s answered=%d cpu/q=%.1fus ctxsw/q=%.2f syscalls/q=%.2f epoll_wait/q=%.2f write/q=%.2f\n",
        l, d, t * 1e6 / hz / d, c / d, s / d, e / d, w / d }'
}
for round in $(seq 1 "$rounds"); do
  measure "floor (C)" $floor 5399 "$work/local"
  measure "dnsmasq local" $dnsmasq 5398 "$work/local"
  measure "dnsmasq fwd" $dnsmasq 5398 "$work/cold"
  for i in "${!binaries[@]}"; do
    measure "#$i local" "${pids[$i]}" $((5400 + i)) "$work/local"
    measure "#$i forwarded" "${pids[$i]}" $((5400 + i)) "$work/cold"
  done
done
