#!/usr/bin/env python3
"""Client connections to several destinations on loopback, for
tests/ephemeral_destinations.rs. Run inside a throwaway network namespace.

argv[1] is a JSON list of destinations, each
  {"addr": "127.0.0.3", "port": 5003, "open": 7, "closed": 4, "mapped": 2}
For each: a listener on addr:port; `open` + `closed` client connections from
ephemeral ports (the first `mapped` of them through AF_INET6 sockets to
::ffff:addr when addr is IPv4); the `closed` ones are closed by the client
first, then by the server, so the client's end waits in TIME_WAIT.
Prints "ready" once every socket is settled, then holds them until stdin closes.
"""
import json
import resource
import socket
import sys
import time


def main():
    plan = json.loads(sys.argv[1])
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    held = []
    # Every listener before any client, so no client takes a listener's port
    # (a port in the range) first.
    listeners = []
    for d in plan:
        lst = socket.socket(socket.AF_INET6 if ":" in d["addr"] else socket.AF_INET, socket.SOCK_STREAM)
        lst.bind((d["addr"], d["port"]))
        lst.listen(4096)
        listeners.append(lst)
    held.extend(listeners)
    for d, lst in zip(plan, listeners):
        v6 = ":" in d["addr"]
        closing = []
        for i in range(d["open"] + d["closed"]):
            if i < d.get("mapped", 0) and not v6:
                c = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
                c.connect(("::ffff:" + d["addr"], d["port"]))
            else:
                c = socket.socket(socket.AF_INET6 if v6 else socket.AF_INET, socket.SOCK_STREAM)
                c.connect((d["addr"], d["port"]))
            s, _ = lst.accept()
            if i < d["closed"]:
                closing.append((c, s))
            else:
                held.extend([c, s])
        for c, s in closing:
            c.close()
        time.sleep(0.05)
        for c, s in closing:
            s.close()
    time.sleep(0.3)  # loopback FIN/ACKs settle long before this
    print("ready", flush=True)
    sys.stdin.read()


if __name__ == "__main__":
    main()
