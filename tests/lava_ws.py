"""A stand-in for lava-publisher's WebSocket, built as lava-publisher builds it: an aiohttp server
whose handler keeps each connection and sends every event with `ws.send_json(...)` of the five
decoded strings [topic, uuid, datetime, username, data] (data still a JSON string), on 127.0.0.1.

Like lava-publisher behind a web server, it can serve `/ws/` next to a LAVA REST API: other paths
are proxied to `upstream` (a FakeLava), as nginx or Apache do in front of a real LAVA.
"""
import asyncio
import base64
import threading

from aiohttp import ClientSession, WSMsgType, web

from tests.helpers import free_port


class LavaWebSocket:
    """The server, in a thread with its own event loop. send(frames) publishes one message to every
    connected client; `authorizations` records each connection's Authorization header."""

    def __init__(self, upstream=None, port=None):
        self.port = port or free_port()
        self.url = f"ws://127.0.0.1:{self.port}/ws/"
        self.http_url = f"http://127.0.0.1:{self.port}"
        self.upstream = upstream
        self.clients = set()
        self.authorizations = []
        self.loop = asyncio.new_event_loop()
        self.runner = None
        ready = threading.Event()
        self.thread = threading.Thread(target=self._serve, args=(ready,), daemon=True)
        self.thread.start()
        if not ready.wait(10):
            raise RuntimeError("the WebSocket test server did not start")

    # -- the server, in its loop ---------------------------------------------------------------
    def _serve(self, ready):
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        ready.set()
        self.loop.run_forever()

    async def _start(self):
        app = web.Application()
        app.router.add_get("/ws/", self._websocket_handler)
        if self.upstream is not None:
            app.router.add_route("*", "/{tail:.*}", self._proxy)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        await web.TCPSite(self.runner, "127.0.0.1", self.port).start()

    async def _websocket_handler(self, request):
        """lava-publisher's handler: prepare, keep the connection, read until it closes."""
        self.authorizations.append(request.headers.get("Authorization"))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.clients.add(ws)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            self.clients.discard(ws)
        return ws

    async def _proxy(self, request):
        async with ClientSession() as session:
            async with session.request(request.method, self.upstream + request.path_qs,
                                       headers={k: v for k, v in request.headers.items()
                                                if k.lower() in ("authorization", "accept")},
                                       data=await request.read()) as answer:
                body = await answer.read()
                return web.Response(body=body, status=answer.status,
                                    content_type=answer.content_type)

    async def _send(self, message):
        for ws in list(self.clients):
            await ws.send_json(message)

    async def _send_raw(self, text):
        for ws in list(self.clients):
            await ws.send_str(text)

    async def _close_all(self):
        for ws in list(self.clients):
            await ws.close()

    # -- from the test's thread -------------------------------------------------------------------
    def send(self, frames):
        """One event, as lava-publisher forwards it: the frames decoded, then send_json."""
        message = [f.decode("utf-8") if isinstance(f, bytes) else f for f in frames]
        asyncio.run_coroutine_threadsafe(self._send(message), self.loop).result(10)

    def send_many(self, batch, timeout=300):
        """Many events in one go (a burst), each as send() sends it."""
        async def many():
            for frames in batch:
                await self._send([f.decode("utf-8") for f in frames])
        asyncio.run_coroutine_threadsafe(many(), self.loop).result(timeout)

    def send_raw(self, text):
        """A text message that lava-publisher would never send (a broken peer)."""
        asyncio.run_coroutine_threadsafe(self._send_raw(text), self.loop).result(10)

    def drop_clients(self):
        """Close every connection (a publisher restart, as the clients see it)."""
        asyncio.run_coroutine_threadsafe(self._close_all(), self.loop).result(10)

    def wait_for_clients(self, n=1, timeout=15.0):
        import time
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.clients) >= n:
                return
            time.sleep(0.02)
        raise AssertionError(f"no {n} WebSocket client(s) within {timeout} s")

    @staticmethod
    def basic_user(header):
        """The username of a Basic Authorization header (None otherwise)."""
        if not header or not header.startswith("Basic "):
            return None
        return base64.b64decode(header[6:]).decode().partition(":")[0]

    def close(self):
        async def stop():
            await self._close_all()
            await self.runner.cleanup()
        try:
            asyncio.run_coroutine_threadsafe(stop(), self.loop).result(10)
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(5)
