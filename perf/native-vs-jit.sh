#!/usr/bin/env bash
# Native (bin/roceuio, NativeAOT) against JIT (bin/roceuio-jit, dotnet roceuio.dll) in one run: binary size,
# `--version` and `show gids` wall time (median of N), daemon start -> full table served, idle and churn (peak) RSS.
# Needs root (a private network namespace with a veth pair) and ./build.sh first. Prints a Markdown table.
set -euo pipefail
cd "$(dirname "$0")/.."
n=${N:-15}
ns=roceuio-perf-$$
dir=$(mktemp -d)
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
ip netns add "$ns"
ip -n "$ns" link add veth0 type veth peer name veth1
ip -n "$ns" link set veth0 up; ip -n "$ns" link set veth1 up

now_us() { echo $(( $(date +%s%N) / 1000 )); }
median_ms() { # command...: median wall time of n runs, in ms with 1 decimal
  local t=() s e
  for _ in $(seq "$n"); do s=$(now_us); "$@" >/dev/null 2>&1 || true; e=$(now_us); t+=($((e - s))); done
  printf '%s\n' "${t[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
}

declare -A size version showgids start rss hwm
for kind in native jit; do
  bin=bin/roceuio; [ $kind = jit ] && bin=bin/roceuio-jit
  [ $kind = native ] && size[$kind]=$(stat -c %s bin/roceuio) || size[$kind]=$(du -cb src/RoceUio.Cli/bin/Release/net10.0/*.dll | tail -1 | cut -f1)
  version[$kind]=$(median_ms $bin --version)
  sock=$dir/$kind.sock
  s=$(now_us)
  ip netns exec "$ns" $bin run --emulate mlx4:veth0 --control "$sock" --state-dir "$dir/$kind-state" --shm-dir "$dir/$kind-shm" --quiet &
  pid=$!
  until bin/roceuio show gids --control "$sock" 2>/dev/null | grep -q 'n_gids_found=2'; do sleep 0.002; done
  e=$(now_us); start[$kind]=$(awk "BEGIN {printf \"%.0f\", ($e - $s) / 1000}")
  showgids[$kind]=$(median_ms $bin show gids --control "$sock")
  sleep 3   # idle: what the daemon holds after start-up
  rss[$kind]=$(awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/$pid/status)
  # churn: 2,000 address adds and deletes in batches, then the peak and the resident set
  for r in 1 2 3 4; do
    { for i in $(seq 1 250); do echo "addr add 10.9.$r.$i/32 dev veth0"; done
      for i in $(seq 1 250); do echo "addr del 10.9.$r.$i/32 dev veth0"; done; } | ip -n "$ns" -batch -
  done
  ip -n "$ns" addr add 10.9.9.9/32 dev veth0   # a sentinel after the churn: once it is a GID, the churn was processed
  until bin/roceuio show gids --control "$sock" 2>/dev/null | grep -q 'n_gids_found=4'; do sleep 0.01; done
  ip -n "$ns" addr del 10.9.9.9/32 dev veth0
  hwm[$kind]=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' /proc/$pid/status)
  kill $pid; wait $pid || true
done
echo "| measure | native (NativeAOT) | JIT | JIT ÷ native |"
echo "|---|---|---|---|"
r() { awk "BEGIN {printf \"%.1f\", $2 / $1}"; }
echo "| size on disk (native: bin/roceuio; JIT: the CLI's assemblies, runtime not counted) | $((size[native]/1024)) KiB | $((size[jit]/1024)) KiB | $(r ${size[native]} ${size[jit]}) |"
echo "| \`roceuio --version\` wall, median of $n | ${version[native]} ms | ${version[jit]} ms | $(r ${version[native]} ${version[jit]}) |"
echo "| \`roceuio show gids\` against the daemon, median of $n | ${showgids[native]} ms | ${showgids[jit]} ms | $(r ${showgids[native]} ${showgids[jit]}) |"
echo "| daemon start → full table served (show gids polled) | ${start[native]} ms | ${start[jit]} ms | $(r ${start[native]} ${start[jit]}) |"
echo "| idle RSS, 3 s after start | ${rss[native]} MB | ${rss[jit]} MB | $(r ${rss[native]} ${rss[jit]}) |"
echo "| peak RSS (VmHWM) through 2,000 address adds/deletes | ${hwm[native]} MB | ${hwm[jit]} MB | $(r ${hwm[native]} ${hwm[jit]}) |"
