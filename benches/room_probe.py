#!/usr/bin/env python3
"""What a preallocated live file saves each sync, outside origuard (issue 27).

One writer, write then fdatasync, in the directory given (default: a
temporary directory under /tmp; use the audit log's file system):
  - 4 KiB and 720 B records appended to a growing file, against the same
    records written over room made beforehand (spaces, written and synced),
    against room reserved with fallocate (unwritten extents);
  - the log's exact pattern: 720 B records, 1 MiB of room renewed each
    512 KiB, a one-byte read-back before each sync; with and without two
    stat calls per write (what the log did before every write);
  - two writers at once (overlapping syncs), growing and inside room.
Prints the p50 and mean of each in µs, and syncs per second for the pairs.
Usage: benches/room_probe.py [DIR] [N]   (N writes per case, default 2000)
"""
import os, statistics, sys, tempfile, threading, time

DIR = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="room-probe-")
N = int(sys.argv[2]) if len(sys.argv) > 2 else 2000
P = os.path.join(DIR, "probe.bin")


def fresh():
    return os.open(P, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)


def report(name, lat):
    lat = sorted(lat)
    print(f"{name:<58} p50 {lat[len(lat) // 2] * 1e6:6.0f} µs  mean {statistics.mean(lat) * 1e6:6.0f} µs")


def simple(name, size, room):
    fd = fresh()
    if room == "spaces":
        os.pwrite(fd, b" " * (N * size + (1 << 20)), 0)
        os.fdatasync(fd)
    elif room == "fallocate":
        os.posix_fallocate(fd, 0, N * size + (1 << 20))
        os.fsync(fd)
    rec, off, lat = b"x" * (size - 1) + b"\n", 0, []
    for _ in range(N):
        t = time.perf_counter()
        os.pwrite(fd, rec, off)
        off += size
        os.fdatasync(fd)
        lat.append(time.perf_counter() - t)
    os.close(fd)
    report(name, lat)


def log_pattern(name, room, stat):
    fd = fresh()
    rec, off, end, lat = b"x" * 719 + b"\n", 0, 0, []
    for _ in range(N):
        t = time.perf_counter()
        if stat:
            os.stat(P)
            os.fstat(fd)
        os.pwrite(fd, rec, off)
        off += 720
        os.pread(fd, 1, off - 721 if off > 720 else 0)
        os.fdatasync(fd)
        lat.append(time.perf_counter() - t)
        if room and end - off < 512 << 10:
            at = max(end, off)
            while at < off + (1 << 20):
                os.pwrite(fd, b" " * 65536, at)
                at += 65536
            os.fdatasync(fd)
            end = at
    os.close(fd)
    report(name, lat)


def pair(name, room):
    fd = fresh()
    if room:
        os.pwrite(fd, b" " * (N * 4096 + (1 << 20)), 0)
        os.fdatasync(fd)
    lock, off = threading.Lock(), [0]

    def one(k):
        for _ in range(N // k):
            with lock:
                o = off[0]
                off[0] += 4096
            os.pwrite(fd, b"x" * 4096, o)
            os.fdatasync(fd)

    rates = []
    for k in (1, 2):
        off[0] = 0
        ts = [threading.Thread(target=one, args=(k,)) for _ in range(k)]
        t = time.perf_counter()
        for th in ts:
            th.start()
        for th in ts:
            th.join()
        rates.append(N / (time.perf_counter() - t))
    os.close(fd)
    print(f"{name:<58} syncs/s one writer {rates[0]:6.0f}, two {rates[1]:6.0f} ({rates[1] / rates[0]:.2f}×)")


print(f"directory {DIR}, {N} writes per case")
for size in (4096, 720):
    simple(f"{size} B appended (the file grows)", size, None)
    simple(f"{size} B over room of spaces", size, "spaces")
    simple(f"{size} B over fallocate'd space", size, "fallocate")
log_pattern("log pattern, no room", False, False)
log_pattern("log pattern, room", True, False)
log_pattern("log pattern, no room, two stat calls per write", False, True)
log_pattern("log pattern, room, two stat calls per write", True, True)
pair("4 KiB, two writers at once, growing file", False)
pair("4 KiB, two writers at once, inside room", True)
os.unlink(P)
