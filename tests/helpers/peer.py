#!/usr/bin/env python3
"""Test peer: holds one socket until stdin closes (at most 120 s).

usage: peer.py NAME MODE ADDR PORT
  NAME  written to /proc/self/comm, so the exporter sees that process name;
        "hex:..." gives raw bytes (newlines, non-UTF-8)
  MODE  listen-tcp | serve-tcp | bind-tcp | bind-udp | connect-tcp | churn-tcp
        | reuseport-tcp (listens with SO_REUSEPORT, so others may listen beside it)
        (serve-tcp listens and accepts-and-closes every connection)
Prints "ready LOCALPORT PID" once the socket is set up. churn-tcp opens and
closes connections to ADDR:PORT (3000 at full speed, then one per 10 ms until
it has run 2 s, so a fast machine cannot finish before a test looks; at most
20 s), then exits.
"""
import os, signal, socket, sys, threading, time

name, mode, addr, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
raw = bytes.fromhex(name[4:]) if name.startswith("hex:") else name.encode()
with open("/proc/self/comm", "wb") as f:
    f.write(raw)
signal.alarm(120)
if mode == "churn-tcp":
    print("ready", port, os.getpid(), flush=True)
    begun = time.time()
    end = begun + 20
    n = 0
    while time.time() < end and (n < 3000 or time.time() < begun + 2):
        if n >= 3000:
            time.sleep(0.01)
        c = socket.socket()
        try:
            c.connect((addr, port))
        finally:
            c.close()
        n += 1
    sys.exit(0)
family = socket.AF_INET6 if ":" in addr else socket.AF_INET
kind = socket.SOCK_DGRAM if mode == "bind-udp" else socket.SOCK_STREAM
s = socket.socket(family, kind)
if mode == "connect-tcp":
    s.connect((addr, port))
else:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if mode == "reuseport-tcp":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    s.bind((addr, port))
    if mode in ("listen-tcp", "serve-tcp", "reuseport-tcp"):
        s.listen(128)

    def accept_and_close():
        while True:
            conn, _ = s.accept()
            conn.close()

    if mode == "serve-tcp":
        threading.Thread(target=accept_and_close, daemon=True).start()
print("ready", s.getsockname()[1], os.getpid(), flush=True)
sys.stdin.read()
