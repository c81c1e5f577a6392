"""A minimal Socket.IO client over the `websockets` library, for benchmarks.

python-socketio's client never offers permessage-deflate, which hides the cost a browser imposes; this
one offers it or not (`compression`). It follows docs/protocol.md and records latencies.
"""
import asyncio
import json
import time

import websockets


class BenchClient:
    """One subscriber: applies snapshot and changes, records publish→receive latency per change."""

    def __init__(self, url, flt=None, compression=None, headers=None):
        self.url = url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
        self.headers = headers or {}  # e.g. Authorization: Token ... (a signed-in viewer)
        self.filter = flt or {}
        self.compression = compression
        self.seq = None
        self.first_seq = None  # the seq of the first snapshot: changes are counted from there
        self.objects = {"device": {}, "job": {}, "worker": {}}
        self.latencies = []
        self.changes = 0
        self.gaps = 0
        self.resyncs = 0
        self.subscribed = asyncio.Event()
        self.ws = None

    async def run(self, stop):
        """Connect, subscribe, and follow the stream until `stop` (an asyncio.Event) is set."""
        async with websockets.connect(self.url, compression=self.compression, max_size=None,
                                      ping_interval=None, open_timeout=30,
                                      additional_headers=self.headers) as ws:
            self.ws = ws
            await ws.recv()  # Engine.IO open packet
            await ws.send("40")
            while not stop.is_set():
                try:
                    packet = await asyncio.wait_for(ws.recv(), 0.5)
                except asyncio.TimeoutError:
                    continue
                await self._handle(packet)

    async def _subscribe(self):
        await self.ws.send("420" + json.dumps(["subscribe", {"filter": self.filter}]))

    async def _handle(self, packet):
        if packet == "2":
            await self.ws.send("3")
        elif packet.startswith("40"):
            await self._subscribe()
        elif packet.startswith("42"):
            name, payload = json.loads(packet[2:])
            now = time.time()
            if name == "snapshot":
                self._snapshot(payload)
                self.subscribed.set()
            elif name == "changes":
                await self._changes(payload, now)
            elif name == "resync":
                self.resyncs += 1
                await self._subscribe()

    def _snapshot(self, snap):
        self.seq = snap["seq"]
        if self.first_seq is None:
            self.first_seq = snap["seq"]
        self.objects = {"device": {d["hostname"]: d for d in snap["devices"]},
                        "job": {str(j["id"]): j for j in snap["jobs"]},
                        "worker": {w["hostname"]: w for w in snap["workers"]}}

    async def _changes(self, msg, now):
        if self.seq is None:
            return
        if msg["prev"] > self.seq:
            self.gaps += 1
            self.seq = None
            await self._subscribe()
            return
        for change in msg["changes"]:
            if change["seq"] <= self.seq:
                continue
            self.changes += 1
            data = change["data"]
            table = self.objects.get(change["kind"])
            if table is None:
                continue
            if data is None:
                table.pop(str(change["id"]), None)
                continue
            table[str(change["id"])] = data
            sent = data.get("updated")
            if sent:
                self.latencies.append(now - _epoch(sent))
        self.seq = msg["seq"]

    def fingerprint(self):
        """A digest of the client's whole view, comparable with the server's model."""
        return view_fingerprint(self.objects["device"].values(), self.objects["job"].values(),
                                self.objects["worker"].values())


def view_fingerprint(devices, jobs, workers):
    """Order-independent digest of a set of objects. A worker's `devices` (which REST adds and
    Socket.IO leaves to the devices' own `worker` field) is not part of it."""
    import hashlib
    workers = [{k: v for k, v in w.items() if k != "devices"} for w in workers]
    parts = sorted(json.dumps(o, sort_keys=True) for group in (devices, jobs, workers) for o in group)
    return hashlib.sha1("\n".join(parts).encode()).hexdigest()


_EPOCH_CACHE = {}


def _epoch(iso):
    value = _EPOCH_CACHE.get(iso)
    if value is None:
        from datetime import datetime
        value = datetime.fromisoformat(iso).timestamp()
        if len(_EPOCH_CACHE) > 100_000:
            _EPOCH_CACHE.clear()
        _EPOCH_CACHE[iso] = value
    return value
