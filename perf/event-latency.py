#!/usr/bin/env python3
# Event latency and CPU against the number of netdevs (issue 17 "Scale" and the `ip addr add` -> SET_PORT row).
# Run inside a private network namespace made by perf/event-latency.sh (veth0 = the port, veth1 with N macvlans
# m1..mN bound to no port). It starts the daemon, then, with a bare rtnetlink listener in this process as the
# baseline of the same run:
#  1. single changes: an IPv4 address added to veth0 through rtnetlink (and deleted), S times, 25-35 ms apart; from the
#     request to the bare listener's receipt, and to the daemon's published GID line (printed after the push that
#     carried it succeeded: for mlx4 after SET_PORT was written and answered). p50/p99 of each.
#  2. behind bursts: K unrelated address adds on the macvlans (K = 300, 1000, 3000), then at once one real change on
#     veth0: how late the daemon shows it, and the bare listener. The daemon's CPU time over the burst (all threads,
#     /proc/PID/task/*/schedstat) minus that of the real change alone and minus its idle rate over the same wall time
#     (an emulated device's model runs in the daemon), per unrelated event.
# Usage: event-latency.py DAEMON_BIN KIND N   (prints Markdown rows)
import os, socket, struct, subprocess, sys, threading, time, random

bin_, kind, n_other = sys.argv[1], sys.argv[2], int(sys.argv[3])
samples = int(os.environ.get('SAMPLES', '300'))
bursts = [int(x) for x in os.environ.get('BURSTS', '300 1000 3000').split()]
RTM_NEWADDR, RTM_DELADDR = 20, 21
F_REQ, F_ACK, F_EXCL, F_CREATE = 1, 4, 0x200, 0x400
now = time.monotonic_ns

tx = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
tx.bind((0, 0))
seq = 0

def addr_msg(typ, ifindex, ip, ack):
    global seq
    seq += 1
    a = socket.inet_aton(ip)
    body = struct.pack('=BBBBi', socket.AF_INET, 32, 0, 0, ifindex) + struct.pack('=HH', 8, 2) + a + struct.pack('=HH', 8, 1) + a
    flags = F_REQ | (F_ACK if ack else 0) | (F_CREATE | F_EXCL if typ == RTM_NEWADDR else 0)
    return struct.pack('=LHHLL', 16 + len(body), typ, flags, seq, 0) + body

def send(typ, ifindex, ip, ack=True):
    tx.send(addr_msg(typ, ifindex, ip, ack))
    if ack:
        r = tx.recv(65536)
        err = struct.unpack_from('=i', r, 16)[0]
        if err != 0:
            raise OSError(-err, f'{typ} {ip}: {os.strerror(-err)}')

# The bare listener: an rtnetlink socket on RTMGRP_IPV4_IFADDR, timestamping each address event as it arrives.
seen = {}          # (type, ip) -> first receipt time, for the addresses we wait on
watch = set()
cv = threading.Condition()
def listener():
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20)   # SO_RCVBUFFORCE: never drop (it is the baseline)
    s.bind((0, 0x10))
    while True:
        d = s.recv(1 << 20); t = now(); off = 0
        while off + 16 <= len(d):
            ln, typ = struct.unpack_from('=LH', d, off)
            if typ in (RTM_NEWADDR, RTM_DELADDR):
                a = off + 16 + 8
                while a + 4 <= off + ln:
                    alen, atyp = struct.unpack_from('=HH', d, a)
                    if atyp == 2 and alen == 8:
                        ip = socket.inet_ntoa(d[a + 4:a + 8])
                        if ip in watch:
                            with cv: seen.setdefault(('L', typ, ip), t); cv.notify_all()
                    a += (alen + 3) & ~3
            off += (ln + 3) & ~3
threading.Thread(target=listener, daemon=True).start()

# The daemon, its GID lines timestamped as they arrive on its stdout.
ctl = f'/tmp/roceuio-evlat-{os.getpid()}.sock'
state = f'/tmp/roceuio-evlat-{os.getpid()}.state'
emul = f'{kind}:veth0'
trace = os.environ.get('TRACE')
denv = dict(os.environ, ROCEUIO_PUSH_TRACE=trace) if trace else None
d = subprocess.Popen([bin_, 'run', '--emulate', emul, '--control', ctl, '--state-dir', state, '--no-shm',
                      '--index-policy', 'kernel'], stdout=subprocess.PIPE, stderr=subprocess.PIPE, bufsize=0, env=denv)
started = threading.Event()
def reader():
    for line in iter(d.stdout.readline, b''):
        t = now(); text = line.decode(errors='replace')
        if 'serving' in text: started.set()
        for key in ('added to', 'removed from'):
            if key in text:
                i = text.find('address ')
                if i >= 0:
                    ip = text[i + 8:].split(' ')[0]
                    with cv: seen.setdefault(('D', RTM_NEWADDR if key == 'added to' else RTM_DELADDR, ip), t); cv.notify_all()
threading.Thread(target=reader, daemon=True).start()
errs = []
threading.Thread(target=lambda: errs.extend(d.stderr), daemon=True).start()
if not started.wait(30):
    d.kill(); print('daemon did not start:', b''.join(errs).decode(), file=sys.stderr); sys.exit(1)
time.sleep(0.3)

def wait_for(keys, timeout=20.0):
    end = time.monotonic() + timeout
    with cv:
        while not all(k in seen for k in keys):
            left = end - time.monotonic()
            if left <= 0: raise TimeoutError(f'not seen: {[k for k in keys if k not in seen]}')
            cv.wait(left)

def cpu_ns():
    t = 0
    for task in os.listdir(f'/proc/{d.pid}/task'):
        try:
            with open(f'/proc/{d.pid}/task/{task}/schedstat') as f: t += int(f.read().split()[0])
        except OSError: pass
    return t

port = socket.if_nametoindex('veth0')
others = [socket.if_nametoindex(f'm{i}') for i in range(1, n_other + 1)]

def pct(xs, p): xs = sorted(xs); return xs[min(len(xs) - 1, int(len(xs) * p))]

# 1. single changes on the port
lat_l, lat_d = [], []
t0s = []
for i in range(samples):
    ip = f'10.77.{i // 250}.{i % 250 + 1}'
    watch.add(ip)
    t0 = now(); t0s.append(t0); send(RTM_NEWADDR, port, ip)
    wait_for([('L', RTM_NEWADDR, ip), ('D', RTM_NEWADDR, ip)])
    lat_l.append(seen[('L', RTM_NEWADDR, ip)] - t0); lat_d.append(seen[('D', RTM_NEWADDR, ip)] - t0)
    send(RTM_DELADDR, port, ip)
    wait_for([('D', RTM_DELADDR, ip)])
    # Apart by more than PortSync.QuietMs (20 ms): each is a burst of its own. Closer changes are paced (1, 2, 4, 8,
    # then 16 ms between one port's pushes) and wait up to 16 ms: CLOSE=1 measures that (1-3 ms apart).
    time.sleep(random.uniform(0.001, 0.003) if os.environ.get('CLOSE') else random.uniform(0.025, 0.035))
ms = lambda ns: ns / 1e6
gap = '1-3 ms' if os.environ.get('CLOSE') else '25-35 ms'
print(f'| {kind} | {n_other} | single add on the port, {samples} samples {gap} apart: bare listener p50 / p99 | '
      f'{ms(pct(lat_l, .5)):.3f} / {ms(pct(lat_l, .99)):.3f} ms | daemon GID published p50 / p99 | '
      f'{ms(pct(lat_d, .5)):.3f} / {ms(pct(lat_d, .99)):.3f} ms | p99 ratio {pct(lat_d, .99) / pct(lat_l, .99):.2f} |')

if trace:
    import json
    json.dump({'t0': t0s, 'l': lat_l, 'd': lat_d}, open(trace + '.json', 'w'))
    if os.environ.get('ONLY_SINGLE'):
        d.terminate(); d.wait(10); sys.exit(0)
# CPU of one real change alone (the part to take off a burst's CPU)
def real_change(tag):
    ip = f'10.78.{tag // 250}.{tag % 250 + 1}'; watch.add(ip)
    t0 = now(); send(RTM_NEWADDR, port, ip, ack=False)
    return ip, t0
alone = []
for j in range(20):
    c0 = cpu_ns(); ip, t0 = real_change(j); wait_for([('D', RTM_NEWADDR, ip)]); alone.append(cpu_ns() - c0)
    send(RTM_DELADDR, port, ip); wait_for([('D', RTM_DELADDR, ip)])
cpu_alone = pct(alone, .5)
# what the daemon burns with nothing to do (an emulated device's model runs in it), per ns of wall time
time.sleep(0.2); c0, w0 = cpu_ns(), now(); time.sleep(1.0); idle_rate = (cpu_ns() - c0) / (now() - w0)

# 2. bursts of unrelated events, then one real change
tag = 100
for k in bursts:
    msgs = [addr_msg(RTM_NEWADDR, others[i % len(others)], f'10.{100 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}', False)
            for i in range(k)]
    tag += 1
    time.sleep(0.2)
    c0 = cpu_ns(); tb = now()
    for m in msgs: tx.send(m)
    ip, t0 = real_change(tag)
    wait_for([('L', RTM_NEWADDR, ip), ('D', RTM_NEWADDR, ip)], timeout=60)
    time.sleep(0.05)   # let the daemon finish the burst's tail before reading its CPU
    cpu = cpu_ns() - c0 - idle_rate * (now() - tb)
    lb, ld = seen[('L', RTM_NEWADDR, ip)] - t0, seen[('D', RTM_NEWADDR, ip)] - t0
    print(f'| {kind} | {n_other} | burst of {k} unrelated adds (sent in {ms(t0 - tb):.1f} ms), then a real one: '
          f'bare listener sees it after | {ms(lb):.2f} ms | daemon shows it after | {ms(ld):.2f} ms | '
          f'daemon CPU per unrelated event {(cpu - cpu_alone) / k / 1000:.2f} µs (idle {idle_rate * 100:.2f}% of a core taken off) |')
    # undo the burst (deletes, not timed) so the next one starts from the same state
    for i in range(k):
        tx.send(addr_msg(RTM_DELADDR, others[i % len(others)], f'10.{100 + i // 62500}.{i // 250 % 250}.{i % 250 + 1}', False))
    send(RTM_DELADDR, port, ip); wait_for([('D', RTM_DELADDR, ip)], timeout=60)

d.terminate(); d.wait(10)
err = b''.join(errs).decode()
if err.strip():
    print('daemon stderr (last lines):', *err.strip().splitlines()[-5:], sep='\n  ', file=sys.stderr)
