#!/usr/bin/env python3
# Burst of 1,000 changes on the port (issue 17 row 8), through the daemon with an emulated device (mlx4 model or rxe).
# Run inside a private netns with veth0 up (as perf/event-latency.sh makes one). "Published" = the daemon's GID line on
# stdout (after the push that carried it was answered), so it includes printing every line through a pipe.
# Usage: event-latency-burst.py BIN KIND SHAPE REPEATS; SHAPE adds (1,000 adds) or churn (adds with a delete 30
# behind, 1,000 messages, so it fits a 128-entry table). Pushes per burst: the daemon's roceuio.hw.pushes counter.
import os, socket, struct, subprocess, sys, threading, time, json
bin_, kind, shape, reps = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
RTM_NEWADDR, RTM_DELADDR = 20, 21
now = time.monotonic_ns
tx = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE); tx.bind((0, 0))
tx.setsockopt(socket.SOL_SOCKET, 32, 16 << 20)
seq = 0
def msg(typ, ifi, ip):
    global seq; seq += 1; a = socket.inet_aton(ip)
    body = struct.pack('=BBBBi', socket.AF_INET, 32, 0, 0, ifi) + struct.pack('=HH', 8, 2) + a + struct.pack('=HH', 8, 1) + a
    fl = 1 | (0x600 if typ == RTM_NEWADDR else 0)
    return struct.pack('=LHHLL', 16 + len(body), typ, fl, seq, 0) + body
ltimes = []; lock = threading.Lock()
def listener():
    s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    s.setsockopt(socket.SOL_SOCKET, 33, 16 << 20); s.bind((0, 0x10))
    while True:
        d = s.recv(1 << 20); t = now(); off = 0
        while off + 16 <= len(d):
            ln, typ = struct.unpack_from('=LH', d, off)
            if typ in (RTM_NEWADDR, RTM_DELADDR):
                with lock: ltimes.append(t)
            off += (ln + 3) & ~3
threading.Thread(target=listener, daemon=True).start()
ctl = f'/tmp/roceuio-evburst-{os.getpid()}.sock'; st = f'/tmp/roceuio-evburst-{os.getpid()}.state'
d = subprocess.Popen([bin_, 'run', '--emulate', f'{kind}:veth0', '--control', ctl, '--state-dir', st, '--no-shm',
                      '--index-policy', 'kernel'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, bufsize=0)
dtimes = []; started = threading.Event()
def reader():
    for line in iter(d.stdout.readline, b''):
        t = now(); x = line.decode(errors='replace')
        if 'serving' in x: started.set()
        if '(address ' in x:
            with lock: dtimes.append(t)
threading.Thread(target=reader, daemon=True).start()
if not started.wait(30): sys.exit('no start')
def pushes():
    o = subprocess.run([bin_, 'stat', '--json', '--control', ctl], capture_output=True, text=True).stdout
    v = {m['name']: m['value'] for m in json.loads(o) if m['tags'].get('port') in (None, '1')}
    return v['roceuio.hw.pushes'], v.get('roceuio.gid.refused', 0)
port = socket.if_nametoindex('veth0')
def quiet(lst, ms=300):
    while True:
        with lock: n = len(lst); last = lst[-1] if lst else 0
        if n and now() - last > ms * 1e6: return
        time.sleep(0.05)
print(f'machine: {os.cpu_count()} cores; load {open("/proc/loadavg").read().split()[:3]}; kind {kind}; shape {shape}')
for r in range(reps):
    time.sleep(0.5)
    if shape == 'adds':
        ops = [(RTM_NEWADDR, f'10.60.{i // 250}.{i % 250 + 1}') for i in range(1000)]
        undo = [(RTM_DELADDR, ip) for _, ip in ops]
    else:
        ops = []; i = 0
        while len(ops) < 1000:
            ops.append((RTM_NEWADDR, f'10.61.{i // 250}.{i % 250 + 1}'))
            if i >= 30 and len(ops) < 1000: ops.append((RTM_DELADDR, f'10.61.{(i-30) // 250}.{(i-30) % 250 + 1}'))
            i += 1
        live = set(); [live.add(ip) if t == RTM_NEWADDR else live.discard(ip) for t, ip in ops]
        undo = [(RTM_DELADDR, ip) for ip in live]
    msgs = [msg(t, port, ip) for t, ip in ops]
    p0, f0 = pushes()
    with lock: ltimes.clear(); dtimes.clear()
    for m in msgs: tx.send(m)
    quiet(ltimes); quiet(dtimes)
    p1, f1 = pushes()
    with lock: L = list(ltimes); D = list(dtimes)
    print(f'| {kind} | {shape} | {len(L)} events over {(L[-1]-L[0])/1e6:.1f} ms | pushes {p1-p0} | refused {f1-f0} | '
          f'first published after first event {(D[0]-L[0])/1e6:.2f} ms | last published after last event {(D[-1]-L[-1])/1e6:.2f} ms | lines {len(D)} |', flush=True)
    for t, ip in undo: tx.send(msg(t, port, ip))
    time.sleep(0.3); quiet(dtimes)
d.terminate(); d.wait(10)
