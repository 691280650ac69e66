# Sourced by tests.sh in the tests/vm guest: the project's GID table against the kernel's own, live. rdma_rxe makes
# rxe0 on eth0 (a virtio NIC on a QEMU hub with nothing else on it); `roceuio run --emulate rxe:eth0 --index-policy
# kernel` runs beside it; after each address, VLAN, macvlan and bond change the daemon's table (roceuio show gids)
# must equal /sys/class/infiniband/rxe0/ports/1/gids index for index, with the same type and netdev.
RXE=/sys/class/infiniband/rxe0/ports/1
# iproute2's, by path: busybox sh runs its own applets before PATH, and busybox ip lacks nodad, macvlan and bond.
IP=/usr/sbin/ip
SOCK=/run/roceuio.sock

# INDEX GID TYPE NDEV for rxe0's port 1, as show_gids reads them: the zero GID and the bare fe80:: are left out.
kernel_gids() {
  grep -H . $RXE/gids/* 2>/dev/null | sed "s|^$RXE/gids/||" | while read -r line; do
    i=${line%%:*}; g=${line#*:}
    case $g in 0000:0000:0000:0000:0000:0000:0000:0000|fe80:0000:0000:0000:0000:0000:0000:0000) continue ;; esac
    t=$(cat "$RXE/gid_attrs/types/$i" 2>/dev/null)
    case $t in "RoCE v2") t=v2 ;; "IB/RoCE v1") t=v1 ;; esac
    echo "$i $g $t $(cat "$RXE/gid_attrs/ndevs/$i" 2>/dev/null)"
  done | sort -n
}
# The same four columns from the daemon's show_gids-shaped output.
daemon_gids() {
  roceuio show gids --control $SOCK | awk -F '\t' '$1 == "rxe0" { print $3, $4, $(NF-1), $NF }' | sort -n
}
# same_tables: waits (15 s deadline) until both tables agree; prints the table, or both and their difference.
same_tables() {
  i=0
  while :; do
    k=$(kernel_gids); r=$(daemon_gids 2>&1)
    [ "$k" = "$r" ] && [ -n "$k" ] && { echo "$k"; return 0; }
    i=$((i + 1)); [ $i -gt 75 ] && break
    usleep 200000
  done
  echo "kernel (rxe0 sysfs):"; echo "$k"; echo "roceuio:"; echo "$r"
  echo "difference (- kernel, + roceuio):"; echo "$k" > /tmp/k; echo "$r" > /tmp/r; diff /tmp/k /tmp/r
  echo "daemon log:"; tail -n 20 /tmp/daemon.log
  return 1
}
# parity NAME COMMAND...: makes a change, then compares.
parity() {
  n=$1; shift
  out=$( { echo "+ $*"; sh -c "$*" && same_tables; } 2>&1); rc=$?
  result "rxe.$n" "$rc" "$out"
}
rxe_start() {
  $IP link set lo up && $IP link set eth0 up || return 1
  /usr/sbin/rdma link add rxe0 type rxe netdev eth0 || return 1
  /usr/sbin/rdma link show
  mkdir -p /tmp/state
  roceuio run --emulate rxe:eth0 --index-policy kernel --control $SOCK --state-dir /tmp/state > /tmp/daemon.log 2>&1 &
  echo $! > /tmp/daemon.pid
  i=0; while [ ! -S $SOCK ]; do i=$((i + 1)); [ $i -gt 300 ] && { cat /tmp/daemon.log; return 1; }; usleep 100000; done
  same_tables
}

if [ ! -d /sys/module/rdma_rxe ] || [ ! -x /usr/sbin/rdma ] || [ ! -x $IP ]; then
  skip rxe.start "rdma_rxe or the rdma tool is missing from this guest"
elif check rxe.start rxe_start && [ -S $SOCK ]; then
  # Links come up in one step and get addresses in the next: at NETDEV_UP the kernel enumerates the new link's
  # IPv6 addresses while still tentative, which netlink reports only after DAD, so an address added within that
  # second takes its slot in a different order (see README, "Against a real kernel").
  parity ipv4-add $IP addr add 192.0.2.1/24 dev eth0
  parity ipv6-add $IP -6 addr add 2001:db8::1/64 dev eth0 nodad
  parity vlan-up "$IP link add link eth0 name eth0.10 type vlan id 10 && $IP link set eth0.10 up"
  parity vlan-ipv4 $IP addr add 192.0.2.10/24 dev eth0.10
  parity macvlan-up "$IP link add link eth0 name mv0 type macvlan mode bridge && $IP link set mv0 up"
  parity macvlan-ipv4 $IP addr add 198.51.100.1/24 dev mv0
  parity ipv4-del $IP addr del 192.0.2.1/24 dev eth0
  parity ipv4-reuse-slot $IP addr add 203.0.113.1/24 dev eth0
  parity vlan-del $IP link del eth0.10
  parity macvlan-del $IP link del mv0
  parity bond-enslave "$IP link add bond0 type bond mode active-backup && $IP link set eth0 down && $IP link set eth0 master bond0 && $IP link set bond0 up"
  parity bond-ipv4 $IP addr add 192.0.2.50/24 dev bond0
  parity bond-release "$IP link set eth0 nomaster && $IP link set eth0 up"
  kill "$(cat /tmp/daemon.pid)" 2>/dev/null
fi
