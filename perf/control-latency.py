#!/usr/bin/env python3
# Control-plane round trip (issue 17 "Control plane"): `status` on one persistent client against a running daemon,
# p50/p99 over 2,000 requests after 200 warm-up, beside a baseline measured in the same run: a bare echo of the same
# frame (4-byte big-endian length + JSON) over the same kind of socket (AF_UNIX stream), served by this script.
# Usage: perf/control-latency.py CONTROL_SOCKET   (the daemon already running, e.g. bin/roceuio run --emulate mlx4:veth0)
import socket, struct, json, time, sys, os, threading
def rt(s, body):
    s.sendall(struct.pack('>I', len(body)) + body)
    hdr = b''
    while len(hdr) < 4: hdr += s.recv(4 - len(hdr))
    n = struct.unpack('>I', hdr)[0]; got = b''
    while len(got) < n: got += s.recv(n - len(got))
    return got
def bench(path, body, n=2000):
    s = socket.socket(socket.AF_UNIX); s.connect(path)
    for _ in range(200): rt(s, body)
    ts = []
    for _ in range(n):
        t = time.perf_counter_ns(); rt(s, body); ts.append(time.perf_counter_ns() - t)
    ts.sort(); return ts[len(ts)//2]/1e6, ts[int(len(ts)*0.99)]/1e6
def echo_server(path):
    l = socket.socket(socket.AF_UNIX); l.bind(path); l.listen(1)
    c, _ = l.accept()
    while True:
        hdr = c.recv(4)
        if not hdr: return
        n = struct.unpack('>I', hdr)[0]; got = b''
        while len(got) < n: got += c.recv(n - len(got))
        c.sendall(hdr + got)
ctl = sys.argv[1]
body = json.dumps({"command": "status", "args": {}}).encode()
ep = '/tmp/roceuio-echo-%d.sock' % os.getpid()
if os.path.exists(ep): os.unlink(ep)
threading.Thread(target=echo_server, args=(ep,), daemon=True).start(); time.sleep(0.2)
print("echo p50/p99 ms: %.3f %.3f" % bench(ep, body))
print("status p50/p99 ms: %.3f %.3f" % bench(ctl, body))
