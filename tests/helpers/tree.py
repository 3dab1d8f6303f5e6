#!/usr/bin/env python3
"""Test helper: a tree of processes that share sockets, driven line by line.

usage: tree.py            (master: reads commands on stdin, answers on stdout)
       tree.py --node NAME CTLFD SLOTFDS...   (internal: a node after exec)

Every node is a process named NAME (/proc/self/comm) holding numbered
sockets ("slots"). The master only relays; it holds a socket only while
passing it on, and closes it before answering. Commands, one per line:

  spawn NAME                    -> ok ID PID    a fresh node
  listen ID ADDR PORT           -> ok SLOT      TCP, SO_REUSEADDR+SO_REUSEPORT, listening
  udp ID ADDR PORT              -> ok SLOT      UDP, SO_REUSEADDR+SO_REUSEPORT, bound
  connect ID ADDR PORT          -> ok SLOT      TCP client (ephemeral source port)
  accept ID SLOT                -> ok SLOT      one pending connection (waits at most 2 s)
  fork ID NAME                  -> ok ID PID    child inherits every slot, same numbers
  exec ID NAME                  -> ok           re-executes the node, slots kept
  send ID SLOT TO               -> ok SLOT      SCM_RIGHTS from node ID to node TO
  close ID SLOT                 -> ok
  quit ID                       -> ok           the node exits

Errors answer "err MESSAGE". Every node exits when the master goes (EOF on
its control socket); the master exits on EOF on stdin or after 600 s.
"""
import os, select, signal, socket, sys

SEQ = socket.SOCK_SEQPACKET


def set_name(name):
    with open("/proc/self/comm", "w") as f:
        f.write(name[:15])


def make(kind, addr, port):
    fam = socket.AF_INET6 if ":" in addr else socket.AF_INET
    s = socket.socket(fam, socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM)
    if kind != "connect":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind((addr, port))
        if kind == "listen":
            s.listen(1024)
    else:
        s.connect((addr, port))
    return s


def node(name, ctl, slots, announce=False):
    """Serves commands from the master until EOF."""
    set_name(name)
    if announce:  # after exec: answer once the new name is in place
        ctl.send(b"ok")
    while True:
        try:
            msg, fds, _, _ = socket.recv_fds(ctl, 4096, 4)
        except OSError:
            os._exit(0)
        if not msg:
            os._exit(0)
        f = msg.decode().split()
        try:
            op = f[0]
            if op in ("listen", "udp", "connect"):
                slots.append(make(op, f[1], int(f[2])))
                ctl.send(b"ok %d" % (len(slots) - 1))
            elif op == "accept":
                l = slots[int(f[1])]
                r, _, _ = select.select([l], [], [], 2.0)
                if not r:
                    raise OSError("nothing to accept")
                c, _ = l.accept()
                slots.append(c)
                ctl.send(b"ok %d" % (len(slots) - 1))
            elif op == "fork":
                a, b = socket.socketpair(socket.AF_UNIX, SEQ)
                pid = os.fork()
                if pid == 0:
                    a.close()
                    ctl.close()
                    node(f[1], b, slots)
                b.close()
                socket.send_fds(ctl, [b"ok %d" % pid], [a.fileno()])
                a.close()
            elif op == "exec":
                keep = [ctl.fileno()] + [s.fileno() if s else -1 for s in slots]
                for fd in keep:
                    if fd >= 0:
                        os.set_inheritable(fd, True)
                os.execv(sys.executable, [sys.executable, __file__, "--node", f[1]] + [str(x) for x in keep])
            elif op == "give":
                socket.send_fds(ctl, [b"ok"], [slots[int(f[1])].fileno()])
            elif op == "take":
                slots.append(socket.socket(fileno=fds[0]))
                fds = []
                ctl.send(b"ok %d" % (len(slots) - 1))
            elif op == "close":
                slots[int(f[1])].close()
                slots[int(f[1])] = None
                ctl.send(b"ok")
            elif op == "quit":
                ctl.send(b"ok")
                os._exit(0)
            else:
                raise ValueError("unknown command " + op)
        except (OSError, ValueError, IndexError, AttributeError) as e:
            ctl.send(("err %s" % e).replace("\n", " ").encode())
        for fd in fds:
            os.close(fd)


def master():
    signal.alarm(600)
    nodes = {}  # id -> control socket

    def ask(i, text, fds=()):
        c = nodes[i]
        socket.send_fds(c, [text.encode()], list(fds))
        msg, got, _, _ = socket.recv_fds(c, 4096, 4)
        return msg.decode(), got

    for line in sys.stdin:
        f = line.split()
        if not f:
            continue
        try:
            op = f[0]
            if op == "spawn":
                a, b = socket.socketpair(socket.AF_UNIX, SEQ)
                pid = os.fork()
                if pid == 0:
                    a.close()
                    for c in nodes.values():
                        c.close()
                    node(f[1], b, [])
                b.close()
                nodes[len(nodes)] = a
                out = "ok %d %d" % (len(nodes) - 1, pid)
            elif op == "fork":
                msg, got = ask(int(f[1]), "fork " + f[2])
                if not msg.startswith("ok") or not got:
                    out = msg
                else:
                    nodes[len(nodes)] = socket.socket(fileno=got[0])
                    out = "ok %d %s" % (len(nodes) - 1, msg.split()[1])
            elif op == "send":
                msg, got = ask(int(f[1]), "give " + f[2])
                if not msg.startswith("ok") or not got:
                    out = msg
                else:
                    out, _ = ask(int(f[3]), "take", got)
                    for fd in got:
                        os.close(fd)
            else:
                out, got = ask(int(f[1]), " ".join([op] + f[2:]))
                for fd in got:
                    os.close(fd)
        except (OSError, ValueError, IndexError, KeyError) as e:
            out = ("err %s" % e).replace("\n", " ")
        print(out, flush=True)


if len(sys.argv) > 1 and sys.argv[1] == "--node":
    ctl = socket.socket(fileno=int(sys.argv[3]))
    slots = [socket.socket(fileno=int(x)) if int(x) >= 0 else None for x in sys.argv[4:]]
    node(sys.argv[2], ctl, slots, announce=True)
else:
    master()
