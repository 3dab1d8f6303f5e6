#!/usr/bin/python3
"""A FUSE file system whose reads can hang in the kernel, as on a dead NFS
server: a test's stand-in for a read stuck in D state. Every file is a
regular file; a read of a file named with a leading '!' on the command line
sleeps for STALL seconds (bounded) before it answers.

    stall_fs.py MOUNTPOINT STALL_SECONDS [!]NAME=CONTENT ...

Runs in the foreground until unmounted. Needs python3-fusepy (Debian)."""
import errno
import stat
import sys
import time

import fusepy

mountpoint, stall = sys.argv[1], min(float(sys.argv[2]), 120.0)
files, stalls = {}, set()
for arg in sys.argv[3:]:
    name, content = arg.split("=", 1)
    if name.startswith("!"):
        name = name[1:]
        stalls.add(name)
    files["/" + name] = content.encode()


class Stall(fusepy.Operations):
    def getattr(self, path, fh=None):
        if path == "/":
            return dict(st_mode=stat.S_IFDIR | 0o755, st_nlink=2)
        if path in files:
            return dict(st_mode=stat.S_IFREG | 0o444, st_nlink=1, st_size=len(files[path]))
        raise fusepy.FuseOSError(errno.ENOENT)

    def readdir(self, path, fh):
        return [".", ".."] + [p[1:] for p in files]

    def read(self, path, size, offset, fh):
        if path[1:] in stalls:
            time.sleep(stall)
        return files[path][offset:offset + size]


fusepy.FUSE(Stall(), mountpoint, foreground=True, nothreads=False, allow_other=True, direct_io=True)
