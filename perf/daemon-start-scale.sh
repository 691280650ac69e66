#!/usr/bin/env bash
# Daemon start with N netdevs (issue 17 "Scale": start with 3,000 netdevs <= 2x the start with 10), both sizes in one
# run, interleaved. Two private network namespaces (never the host's interfaces): each has veth0 (the port, with 8
# macvlans over it, one IPv4 address each) and veth1 with the N other macvlans (one IPv4 address each, bound to no
# port). The daemon (bin/roceuio, native) starts with --emulate KIND:veth0; the time is from its launch until
# `show gids` serves the port's full table (2 default GIDs + 8 address GIDs per GID type).
# A second start per round reuses the first one's state dir (sticky: the remembered entries are read back).
# Two figures per start: wall time, and the daemon's CPU time up to that moment (all its threads, from
# /proc/PID/task/*/schedstat): on a loaded machine the wall time mostly measures the other processes.
# Needs root and ./build.sh first. Env: KIND (rxe|mlx4, default rxe), ROUNDS (default 7), SIZES (default "10 3000"),
# BINS (default "now=bin/roceuio"; e.g. "before=/tmp/old/roceuio now=bin/roceuio" compares builds, interleaved).
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${KIND:-rxe}
rounds=${ROUNDS:-7}
sizes=${SIZES:-"10 3000"}
bins=${BINS:-now=bin/roceuio}
dir=$(mktemp -d)
nss=()
cleanup() { for ns in "${nss[@]}"; do ip netns del "$ns" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT

make_ns() { # ns n
  local ns=$1 n=$2
  ip netns add "$ns"; nss+=("$ns")
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1
  ip -n "$ns" link add veth0 type veth peer name veth1
  ip -n "$ns" link set veth0 up; ip -n "$ns" link set veth1 up
  { for i in $(seq 1 8); do echo "link add p$i link veth0 type macvlan mode bridge"; echo "link set p$i up"
      echo "addr add 10.200.0.$i/32 dev p$i"; done
    for i in $(seq 1 "$n"); do echo "link add m$i link veth1 type macvlan mode bridge"; echo "link set m$i up"
      echo "addr add 10.$((i / 250 + 1)).$((i % 250)).1/32 dev m$i"; done; } | ip -n "$ns" -batch -
}

now_us() { echo $(( $(date +%s%N) / 1000 )); }
cpu_ms() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{t += $1} END {printf "%.1f", t / 1e6}'; }
# one start: prints "wall_ms cpu_ms" from launch to the full table served
start_once() { # ns state bin
  local ns=$1 state=$2 bin=$3 sock=$dir/$1.sock s e pid want
  want=$([ "$kind" = rxe ] && echo 9 || echo 18)   # rxe: RoCE v2 only (1 default + 8); mlx4: v1 and v2
  s=$(now_us)
  ip netns exec "$ns" "$bin" run --emulate "$kind:veth0" --control "$sock" --state-dir "$state" --no-shm --quiet \
    2>>"$dir/err.log" &
  pid=$!
  until "$bin" show gids --control "$sock" 2>/dev/null | grep -q "n_gids_found=$want\$"; do
    kill -0 $pid 2>/dev/null || { echo "daemon died; see below" >&2; cat "$dir/err.log" >&2; exit 1; }
    sleep 0.001
  done
  e=$(now_us)
  c=$(cpu_ms $pid)
  kill $pid; wait $pid 2>/dev/null || true
  awk "BEGIN {printf \"%.1f/%s\", ($e - $s) / 1000, \"$c\"}"
}

for n in $sizes; do make_ns "roceuio-start-$$-$n" "$n"; done
declare -A cold warm
for r in $(seq 1 "$rounds"); do
  for b in $bins; do
    for n in $sizes; do
      ns=roceuio-start-$$-$n; st=$dir/state-${b%%=*}-$n-$r; k=${b%%=*}/$n
      cold[$k]+="$(start_once "$ns" "$st" "${b#*=}") "
      warm[$k]+="$(start_once "$ns" "$st" "${b#*=}") "
    done
  done
done
median() { # field (1 wall, 2 cpu)
  tr ' ' '\n' | grep . | cut -d/ -f"$1" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
echo "kind $kind, $rounds rounds, load $(cut -d' ' -f1-3 /proc/loadavg) at the end"
echo "| build | N (other netdevs) | first start: wall / CPU (medians) | restart with state: wall / CPU | all first starts (wall/CPU ms) | all restarts |"
echo "|---|---:|---:|---:|---|---|"
for b in $bins; do for n in $sizes; do k=${b%%=*}/$n
  echo "| ${b%%=*} | $n | $(echo "${cold[$k]}" | median 1) / $(echo "${cold[$k]}" | median 2) ms | $(echo "${warm[$k]}" | median 1) / $(echo "${warm[$k]}" | median 2) ms | ${cold[$k]}| ${warm[$k]}|"
done; done
