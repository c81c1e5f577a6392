"""A minimal Socket.IO client over the `websockets` library, for benchmarks.

python-socketio's client never offers permessage-deflate, which hides the cost a browser imposes; this
one offers it or not (`compression`). It follows docs/protocol.md and records latencies.
"""
import asyncio
import base64
import json
import os
import time
import urllib.parse

import orjson
import websockets

from tests.hostile import ws_frame  # a masked client frame (RFC 6455)


class BenchClient:
    """One subscriber: applies snapshot and changes, records publish→receive latency per change.

    Without compression it speaks WebSocket itself, as an asyncio.Protocol (_RawWebSocket): the
    `websockets` library's tasks, futures and assembler cost about 90 µs a message, and the 100
    clients of bench/fanout.py then took most of a core of this 2-core machine, which was the
    latency measured as much as the server's. With compression it uses `websockets`."""

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
        self._send = None  # text → None: sends one message

    async def run(self, stop):
        """Connect, subscribe, and follow the stream until `stop` (an asyncio.Event) is set."""
        if not self.compression:
            await _RawWebSocket.follow(self, stop)
            return
        async with websockets.connect(self.url, compression=self.compression, max_size=None,
                                      ping_interval=None, open_timeout=30,
                                      additional_headers=self.headers) as ws:
            self._send = lambda text: asyncio.ensure_future(ws.send(text))
            await ws.recv()  # Engine.IO open packet
            await ws.send("40")
            closer = asyncio.create_task(_close_on(stop, ws.close))
            try:
                async for packet in ws:
                    self.handle(packet)
            except websockets.ConnectionClosed:
                pass
            finally:
                closer.cancel()

    def _subscribe(self):
        self._send("420" + json.dumps(["subscribe", {"filter": self.filter}]))

    def handle(self, packet):
        """One Engine.IO packet from the server."""
        if packet.startswith("42"):
            name, payload = orjson.loads(packet[2:])
            now = time.time()
            if name == "changes":
                self._changes(payload, now)
            elif name == "snapshot":
                self._snapshot(payload)
                self.subscribed.set()
            elif name == "resync":
                self.resyncs += 1
                self._subscribe()
        elif packet == "2":
            self._send("3")
        elif packet.startswith("40"):
            self._subscribe()

    def _snapshot(self, snap):
        self.seq = snap["seq"]
        if self.first_seq is None:
            self.first_seq = snap["seq"]
        self.objects = {"device": {d["hostname"]: d for d in snap["devices"]},
                        "job": {str(j["id"]): j for j in snap["jobs"]},
                        "worker": {w["hostname"]: w for w in snap["workers"]}}

    def _changes(self, msg, now):
        if self.seq is None:
            return
        if msg["prev"] > self.seq:
            self.gaps += 1
            self.seq = None
            self._subscribe()
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


async def _close_on(stop, close):
    await stop.wait()
    await close()


class _RawWebSocket(asyncio.Protocol):
    """A WebSocket client without extensions (RFC 6455): the HTTP upgrade, then the server's
    unmasked text frames parsed as they arrive and handed to the client; its own frames masked.
    Only what a Socket.IO server sends: no fragments (refused), close and ping answered."""

    MAX_HEAD = 65536

    def __init__(self, client, key):
        self.client = client
        self.key = key
        self.transport = None
        self.buf = bytearray()
        self.upgraded = False
        self.closed = asyncio.get_running_loop().create_future()
        self.opened = asyncio.get_running_loop().create_future()

    @classmethod
    async def follow(cls, client, stop):
        parts = urllib.parse.urlsplit(client.url)
        key = base64.b64encode(os.urandom(16)).decode()
        loop = asyncio.get_running_loop()
        transport, proto = await asyncio.wait_for(loop.create_connection(
            lambda: cls(client, key), parts.hostname, parts.port), 30)
        head = [f"GET {parts.path}?{parts.query} HTTP/1.1", f"Host: {parts.netloc}",
                "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                "Sec-WebSocket-Version: 13"] + [f"{k}: {v}" for k, v in client.headers.items()]
        transport.write(("\r\n".join(head) + "\r\n\r\n").encode())
        client._send = proto.send
        try:
            await asyncio.wait_for(asyncio.shield(proto.opened), 30)
            proto.send("40")
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait([stopped, proto.closed], return_when=asyncio.FIRST_COMPLETED)
            stopped.cancel()
        finally:
            transport.close()

    def connection_made(self, transport):
        self.transport = transport

    def connection_lost(self, exc):
        if not self.closed.done():
            self.closed.set_result(exc)
        if not self.opened.done():
            self.opened.set_exception(ConnectionError("closed before the upgrade"))

    def send(self, text):
        self.transport.write(ws_frame(text))

    def data_received(self, data):
        self.buf += data
        if not self.upgraded:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                if len(self.buf) > self.MAX_HEAD:
                    self.transport.close()
                return
            status = bytes(self.buf[:end]).split(b"\r\n", 1)[0]
            if b" 101 " not in status + b" ":
                self.opened.set_exception(ConnectionError(status.decode(errors="replace")))
                self.transport.close()
                return
            del self.buf[:end + 4]
            self.upgraded = True
        buf, pos, size = self.buf, 0, len(self.buf)
        while size - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            if b1 & 0x80:  # its length would be read wrong by 4 bytes: stop, do not misparse
                raise ValueError("a masked frame from the server (RFC 6455 forbids it)")
            n, at = b1 & 0x7F, pos + 2
            if n == 126:
                if size - at < 2:
                    break
                n, at = int.from_bytes(buf[at:at + 2], "big"), at + 2
            elif n == 127:
                if size - at < 8:
                    break
                n, at = int.from_bytes(buf[at:at + 8], "big"), at + 8
            if size - at < n:
                break
            payload, pos = bytes(buf[at:at + n]), at + n
            opcode = b0 & 0x0F
            if not b0 & 0x80 or opcode == 0:
                raise ValueError("fragmented frame: not something this client reads")
            if opcode == 1:
                text = payload.decode()
                if not self.opened.done():  # the Engine.IO open packet
                    self.opened.set_result(text)
                    continue
                self.client.handle(text)
            elif opcode == 8:
                self.transport.close()
            elif opcode == 9:
                self.transport.write(ws_frame(payload, opcode=0xA))
        del buf[:pos]


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
