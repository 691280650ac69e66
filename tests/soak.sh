#!/usr/bin/env bash
# ./build.sh soak [MINUTES] (default 5; not in CI): the daemon (bin/roceuio) in a private network namespace, attached
# to an mlx4 model process, under churn for MINUTES: addresses added and deleted, link flaps, macvlans made and
# removed, control clients in a loop, a refused SET_PORT (status 0x08) every minute. Prints the daemon's RSS every
# 15 s; at the end, once the churn stopped, compares the table with the kernel's rules: the two default GIDs plus one
# v1 and one v2 entry per address on veth0 and its macvlans (IPv4 and global IPv6; addr_gen_mode none).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
minutes="${1:-5}"
bin="$root/bin/roceuio"
ns="roceuio-soak-$$"
dir="$(mktemp -d /tmp/roceuio-soak-XXXXXX)"
chmod 755 "$dir"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
nsx() { ip netns exec "$ns" "$@"; }

ip netns add "$ns"
nsx sysctl -qw net.ipv6.conf.default.addr_gen_mode=1 net.ipv6.conf.all.addr_gen_mode=1
ip -n "$ns" link add veth0 address 02:00:00:00:00:01 type veth peer name veth1
ip -n "$ns" link set veth1 up
ip -n "$ns" link set veth0 up
"$bin" model mlx4 --dir "$dir/dev" --create --ports 1 >"$dir/model.log" 2>&1 & pids+=($!)
for _ in $(seq 100); do [ -e "$dir/dev/mlx4-model.state" ] && break; sleep 0.1; done
ip netns exec "$ns" "$bin" run --attach "mlx4:$dir/dev=veth0" --control "$dir/c.sock" --state-dir "$dir/state" --no-shm --quiet \
  >"$dir/daemon.log" 2>&1 & daemon=$!; pids+=($daemon)
for _ in $(seq 100); do "$bin" status --control "$dir/c.sock" >/dev/null 2>&1 && break; sleep 0.1; done
echo "soak: $minutes min; daemon pid $daemon; $(uptime)"

end=$(( $(date +%s) + minutes * 60 ))
( while [ "$(date +%s)" -lt "$end" ]; do "$bin" show gids --control "$dir/c.sock" >/dev/null 2>&1 || true; done ) & pids+=($!)
( while [ "$(date +%s)" -lt "$end" ]; do sleep 60; [ "$(date +%s)" -lt "$end" ] && printf 'status=0x08\nstatus_count=1\n' >"$dir/dev/mlx4.fault"; done ) & pids+=($!)
( i=0; while [ "$(date +%s)" -lt "$end" ]; do
    i=$(( (i + 1) % 200 ))
    ip -n "$ns" addr add "10.1.$((i / 100)).$((i % 100 + 1))/32" dev veth0 2>/dev/null || true
    j=$(( (i + 180) % 200 ))   # about 20 IPv4 and 15 IPv6 addresses alive at once: the table never fills
    ip -n "$ns" addr del "10.1.$((j / 100)).$((j % 100 + 1))/32" dev veth0 2>/dev/null || true
    ip -n "$ns" addr add "2001:db8::$i/128" dev veth0 nodad 2>/dev/null || true
    ip -n "$ns" addr del "2001:db8::$(((i + 185) % 200))/128" dev veth0 2>/dev/null || true
    if [ $((i % 20)) -eq 0 ]; then ip -n "$ns" link set veth0 down; ip -n "$ns" link set veth0 up; fi
    if [ $((i % 25)) -eq 0 ]; then
      m="mv$((i % 4))"
      if ip -n "$ns" link show "$m" >/dev/null 2>&1; then ip -n "$ns" link del "$m"
      else ip -n "$ns" link add "$m" link veth0 type macvlan mode bridge && ip -n "$ns" link set "$m" up \
             && ip -n "$ns" addr add "10.2.$((i % 4)).1/24" dev "$m"; fi
    fi
  done ) & churn=$!; pids+=($churn)
t0=$(date +%s)
rss_mb() { echo $(( $(ps -o rss= -p "$daemon") / 1024 )); }
samples=()
while kill -0 "$churn" 2>/dev/null; do
  r=$(rss_mb); samples+=("$r")
  echo "soak: t=$(( $(date +%s) - t0 ))s RSS $r MB"
  sleep 15
done
r=$(rss_mb); samples+=("$r")
hwm=$(awk '/VmHWM/ {printf "%d", $2 / 1024}' /proc/"$daemon"/status)
# The summary perf/RESULTS.md quotes: every figure computed here, none left for the reader to fill in.
printf '%s\n' "${samples[@]}" | sort -n | awk -v first="${samples[0]}" -v last="$r" -v hwm="$hwm" -v n="${#samples[@]}" \
  '{a[NR] = $1} END {printf "soak: churn over; RSS %d samples: first %d MB, min %d MB, median %d MB, max %d MB over the run, last %d MB; peak (VmHWM) %d MB\n", n, first, a[1], a[int((NR + 1) / 2)], a[NR], last, hwm}'

# The kernel's rules: defaults (2) + v1 and v2 per IPv4 / global IPv6 address of veth0 and each macvlan, all fitting.
want=2
for dev in $(ip -n "$ns" -o link show | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^(veth0|mv[0-9])$'); do
  n=$(ip -n "$ns" -o addr show dev "$dev" | grep -cE 'inet |inet6 .*scope global' || true)
  want=$(( want + 2 * n ))
done
got=0
for _ in $(seq 50); do
  got=$(( $("$bin" show gids --control "$dir/c.sock" | grep -c '^mlx4_0') ))
  [ "$got" -eq "$want" ] && break
  sleep 0.2
done
echo "soak: table holds $got GIDs; the kernel's rules give $want"
grep -v 'status 0x08\|SET_PORT' "$dir/daemon.log" | head -5 || true
[ "$got" -eq "$want" ] && { echo "soak: PASS"; exit 0; }
echo "soak: FAIL"; exit 1
