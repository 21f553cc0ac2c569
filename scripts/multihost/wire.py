#!/usr/bin/env python3
"""A userspace Ethernet switch with netem-like links, for kernels without sch_netem.

It gives each network namespace named on the command line a TAP device
(`eth0`) and forwards frames between them like a learning switch. Every frame
that crosses from one node port to another goes through one impaired hop:
dropped with probability `loss_pct`, otherwise delivered after
`delay_ms +/- jitter_ms` (normal distribution, clipped at 0). That is what
`tc qdisc add dev eth0 root netem delay D J distribution normal loss L` on
every node's egress does; unlike netem with jitter, frames of one direction of
one link keep their order (a real path rarely reorders, and reordering every
packet would measure TCP's fast retransmit rather than the protocol).

The observer port (in the switch's own namespace, where the test driver runs)
is not impaired, so the driver measures the network between nodes, not its own.

Settings are read from a JSON file ({"delay_ms", "jitter_ms", "loss_pct"}) at
start and again on SIGHUP. Counters are written to a JSON file every 2 s and on
exit. SIGTERM or SIGINT closes every TAP device (they vanish with their fd).
Standard library only; Linux only; needs CAP_NET_ADMIN.
"""

import argparse
import asyncio
import collections
import ctypes
import fcntl
import json
import os
import random
import signal
import struct
import sys
import time

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
CLONE_NEWNET = 0x40000000
MAX_FRAME = 65536
# Frames waiting on one link direction; beyond this the link drops (a full queue), so memory stays bounded.
MAX_QUEUED_PER_LINK = 10_000

libc = ctypes.CDLL(None, use_errno=True)


def setns(fd):
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def open_tap_in(netns, name):
    """Opens a TAP device `name` inside the named network namespace and returns its fd."""
    home = os.open('/proc/self/ns/net', os.O_RDONLY)
    target = os.open(f'/run/netns/{netns}', os.O_RDONLY) if netns else None
    try:
        if target is not None:
            setns(target)
        # The device belongs to the namespace current when /dev/net/tun is opened.
        fd = os.open('/dev/net/tun', os.O_RDWR | os.O_NONBLOCK)
        fcntl.ioctl(fd, TUNSETIFF, struct.pack('16sH', name.encode(), IFF_TAP | IFF_NO_PI))
        return fd
    finally:
        if target is not None:
            setns(home)
            os.close(target)
        os.close(home)


class Link:
    """One direction between two ports: an ordered queue of (deliver_at, frame)."""

    __slots__ = ('queue', 'last_at', 'timer')

    def __init__(self):
        self.queue = collections.deque()
        self.last_at = 0.0
        self.timer = None


class Switch:
    def __init__(self, ports, observer, params_path, stats_path):
        self.loop = asyncio.get_running_loop()
        self.ports = ports  # list of (name, fd)
        self.observer = observer  # index of the unimpaired port, or None
        self.params_path = params_path
        self.stats_path = stats_path
        self.macs = {}  # MAC -> port index (learned from source addresses)
        self.links = {}
        self.params = {'delay_ms': 0.0, 'jitter_ms': 0.0, 'loss_pct': 0.0}
        self.stats = collections.Counter()
        self.started = time.time()
        self.reload()

    def reload(self):
        with open(self.params_path) as f:
            p = json.load(f)
        self.params = {k: max(0.0, float(p.get(k, 0))) for k in ('delay_ms', 'jitter_ms', 'loss_pct')}
        print(f'wire: delay {self.params["delay_ms"]} ms, jitter {self.params["jitter_ms"]} ms, loss {self.params["loss_pct"]}% per hop', flush=True)

    def start(self):
        for i, (_, fd) in enumerate(self.ports):
            self.loop.add_reader(fd, self.on_readable, i)

    def on_readable(self, src):
        fd = self.ports[src][1]
        for _ in range(256):  # bounded batch, then let other ports in
            try:
                frame = os.read(fd, MAX_FRAME)
            except BlockingIOError:
                return
            if len(frame) < 14:
                continue
            self.stats['frames_in'] += 1
            self.macs[frame[6:12]] = src
            dst = frame[0:6]
            if dst[0] & 1:  # broadcast or multicast: flood
                for d in range(len(self.ports)):
                    if d != src:
                        self.send(src, d, frame)
            else:
                d = self.macs.get(dst)
                if d is None:
                    for d2 in range(len(self.ports)):
                        if d2 != src:
                            self.send(src, d2, frame)
                elif d != src:
                    self.send(src, d, frame)

    def send(self, src, dst, frame):
        p = self.params
        impaired = self.observer not in (src, dst)
        if impaired:
            self.stats['impaired_sends'] += 1
        if impaired and p['loss_pct'] > 0 and random.random() * 100 < p['loss_pct']:
            self.stats['dropped_loss'] += 1
            return
        delay = max(0.0, random.gauss(p['delay_ms'], p['jitter_ms'])) / 1000 if impaired else 0.0
        if delay == 0.0:
            self.write(dst, frame)
            return
        link = self.links.get((src, dst))
        if link is None:
            link = self.links[(src, dst)] = Link()
        if len(link.queue) >= MAX_QUEUED_PER_LINK:
            self.stats['dropped_queue'] += 1
            return
        at = max(self.loop.time() + delay, link.last_at)
        link.last_at = at
        link.queue.append((at, frame, dst))
        if link.timer is None:
            link.timer = self.loop.call_at(at, self.flush, link)

    def flush(self, link):
        link.timer = None
        now = self.loop.time()
        q = link.queue
        while q and q[0][0] <= now:
            _, frame, dst = q.popleft()
            self.write(dst, frame)
        if q:
            link.timer = self.loop.call_at(q[0][0], self.flush, link)

    def write(self, dst, frame):
        try:
            os.write(self.ports[dst][1], frame)
            self.stats['frames_out'] += 1
            self.stats['bytes_out'] += len(frame)
        except (BlockingIOError, OSError):
            # The receiving interface is down or its queue is full: the frame is lost, as on a wire.
            self.stats['dropped_port'] += 1

    def write_stats(self):
        s = dict(self.stats)
        s.update(self.params)
        s['uptime_s'] = round(time.time() - self.started, 1)
        t = os.times()
        s['cpu_s'] = round(t.user + t.system, 1)
        s['ports'] = [n for n, _ in self.ports]
        tmp = f'{self.stats_path}.tmp'
        with open(tmp, 'w') as f:
            json.dump(s, f)
        os.replace(tmp, self.stats_path)


async def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument('--port', action='append', default=[], metavar='NETNS', help='a namespace that gets a TAP eth0 (repeat)')
    ap.add_argument('--observer', metavar='IFNAME', help='an unimpaired TAP device in this process\'s own namespace')
    ap.add_argument('--params', required=True, help='JSON file with delay_ms, jitter_ms, loss_pct (re-read on SIGHUP)')
    ap.add_argument('--stats', required=True, help='JSON file the counters are written to')
    ap.add_argument('--ready', required=True, help='file created once every TAP device exists')
    a = ap.parse_args()

    ports = [(ns, open_tap_in(ns, 'eth0')) for ns in a.port]
    observer = None
    if a.observer:
        observer = len(ports)
        ports.append((a.observer, open_tap_in(None, a.observer)))
    sw = Switch(ports, observer, a.params, a.stats)
    sw.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, sw.reload)
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    with open(a.ready, 'w') as f:
        f.write(f'{os.getpid()}\n')
    print(f'wire: {len(ports)} ports up ({", ".join(n for n, _ in ports)})', flush=True)
    while not stop.is_set():
        sw.write_stats()
        try:
            await asyncio.wait_for(stop.wait(), 2)
        except asyncio.TimeoutError:
            pass
    sw.write_stats()
    for _, fd in ports:
        os.close(fd)
    print('wire: stopped', flush=True)


if __name__ == '__main__':
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
