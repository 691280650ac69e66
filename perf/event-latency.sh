#!/usr/bin/env bash
# Event latency and per-event CPU against the number of netdevs, in private network namespaces only (never the
# host's interfaces): see perf/event-latency.py. Needs root, python3 and ./build.sh first.
# Env: KIND (rxe|mlx4, default rxe), SIZES (default "10 3000"), SAMPLES, BURSTS, BIN (default bin/roceuio).
set -euo pipefail
cd "$(dirname "$0")/.."
kind=${KIND:-rxe}
sizes=${SIZES:-"10 3000"}
bin=$(realpath "${BIN:-bin/roceuio}")
nss=()
cleanup() { for ns in "${nss[@]}"; do ip netns del "$ns" 2>/dev/null || true; done; rm -rf /tmp/roceuio-evlat-*; }
trap cleanup EXIT
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs); load at start $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%H:%M:%S)"
for n in $sizes; do
  ns=roceuio-evlat-$$-$n
  ip netns add "$ns"; nss+=("$ns")
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.default.disable_ipv6=1 net.ipv6.conf.all.disable_ipv6=1
  ip -n "$ns" link add veth0 type veth peer name veth1
  ip -n "$ns" link set veth0 up; ip -n "$ns" link set veth1 up
  for i in $(seq 1 "$n"); do echo "link add m$i link veth1 type macvlan mode bridge"; echo "link set m$i up"; done \
    | ip -n "$ns" -batch -
  ip netns exec "$ns" python3 perf/event-latency.py "$bin" "$kind" "$n"
  ip netns del "$ns"
done
echo "load at end $(cut -d' ' -f1-3 /proc/loadavg); $(date -u +%H:%M:%S)"
