#!/usr/bin/env python3
"""Test peer: holds one socket until stdin closes (at most 120 s).

usage: peer.py NAME MODE ADDR PORT
  NAME  written to /proc/self/comm, so the exporter sees that process name
  MODE  listen-tcp | bind-tcp | bind-udp | connect-tcp
Prints "ready LOCALPORT PID" once the socket is set up.
"""
import os, signal, socket, sys

name, mode, addr, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with open("/proc/self/comm", "w") as f:
    f.write(name)
signal.alarm(120)
family = socket.AF_INET6 if ":" in addr else socket.AF_INET
kind = socket.SOCK_DGRAM if mode == "bind-udp" else socket.SOCK_STREAM
s = socket.socket(family, kind)
accepted = []
if mode == "connect-tcp":
    s.connect((addr, port))
else:
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    if mode == "listen-tcp":
        s.listen(16)
print("ready", s.getsockname()[1], os.getpid(), flush=True)
sys.stdin.read()
