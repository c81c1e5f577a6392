"""Socket.IO messages that are not what a client may send: read through ClientJson and ClientPacket
(the server's `json` and `serializer`), refused, counted by kind and answered by SocketRefusals.

A message that is not JSON, nested too deep, not a packet of the protocol, an event whose handler
takes other arguments or that nobody handles: refused, counted (/healthz relay.bad_messages_by_kind),
logged at most once per kind every 5 s without a traceback, answered in the one error shape when the
client asked for an acknowledgement; the connection stays usable.
"""
import logging
import time

import socketio as python_socketio
from flask import request
from socketio import packet as sio_packet

from dashboard.core.limits import MAX_DEPTH, too_deep
from dashboard.live.health import RateLimitedLog
from dashboard.live.wire import JsonPacket

log = logging.getLogger("dashboard.server")  # (the server's log, as before this module was apart)

# -- Socket.IO messages that are not what a client may send -------------------------------------
# Refused as the client's doing, each counted by kind (/healthz relay.bad_messages_by_kind).
BAD_MESSAGE_KINDS = ("not_json", "too_deep", "malformed", "bad_arguments", "unknown_event",
                     "ingest_connect")  # (the last: a connect to an ingest process, refused)
# Event names no client may send: python-socketio's reserved ones would run the connect or
# disconnect handler again (a disconnect resets the client's rate limits), and "*" would reach
# Flask-SocketIO's catch-all handler with the client's first argument taken for a sid.
NOT_CLIENT_EVENTS = frozenset(python_socketio.Server.reserved_events) | {"*"}
_WIRE_LOADS = JsonPacket.json.loads  # (taken now: the server's `json` option is set on a subclass)


class BadMessage(ValueError):
    """A Socket.IO message refused as it was read: `kind` (one of BAD_MESSAGE_KINDS) and why, with
    what was read of its packet (type, namespace, acknowledgement id) once of() has been told."""

    def __init__(self, kind, why):
        super().__init__(why)
        self.kind = kind
        self.packet_type = self.namespace = self.ack = None

    def of(self, pkt):
        """This refusal, holding what was read of `pkt` (an event's ack id: it gets an answer)."""
        self.packet_type, self.namespace, self.ack = pkt.packet_type, pkt.namespace, pkt.id
        return self


class ClientJson:
    """The json module of python-socketio and python-engineio (their `json` option): reads and
    writes as live/wire.py does, but a text nesting deeper than core.limits.MAX_DEPTH is refused
    before any parser sees it (orjson refuses 1,024 levels, and Python's json, which then decides,
    raises RecursionError), and one that is not JSON raises BadMessage. For a text of at most
    MAX_DEPTH brackets (every message of the protocol) the depth check is two counts, in C; only a
    text with more is scanned (core/limits.py). (It also reads python-socketio's message queue in a
    cluster: a status or a disconnect, shallow.)"""

    dumps = staticmethod(JsonPacket.json.dumps)

    @staticmethod
    def loads(text, **kwargs):
        """json.loads(text, **kwargs), or BadMessage (a ValueError)."""
        if too_deep(text if isinstance(text, str) else bytes(text).decode("latin-1")):
            raise BadMessage("too_deep", f"nested deeper than {MAX_DEPTH} levels")
        try:
            return _WIRE_LOADS(text, **kwargs)
        except ValueError as exc:  # (json.JSONDecodeError, and engineio's too long an integer)
            raise BadMessage("not_json", f"not JSON: {str(exc)[:100]}") from None


class ClientPacket(JsonPacket):
    """The server's Socket.IO packet (its `serializer`): written as live/wire.py writes it; read by
    python-socketio, then checked to be one a client may send, before python-socketio acts on it.
    What is not raises BadMessage, which SocketRefusals answers."""

    json = ClientJson  # (the server's `json` option sets it too, and python-engineio's)

    def decode(self, encoded_packet):
        try:
            attachments = super().decode(encoded_packet)
        except BadMessage as bad:
            raise bad.of(self) from None
        except Exception as exc:  # python-socketio's own refusals, and what it did not foresee:
            # not answered (how far it read, its ack id included, is not known)
            raise BadMessage("malformed", f"not a Socket.IO packet ({type(exc).__name__})"
                             ) from None
        why = not_from_a_client(self.packet_type, self.data)
        if why:
            raise BadMessage("malformed", why).of(self)
        return attachments


def not_from_a_client(packet_type, data):
    """Why a decoded Socket.IO packet is not one a client of this protocol sends (None: it is)."""
    if packet_type == sio_packet.EVENT:
        if not isinstance(data, list) or not data or not isinstance(data[0], str):
            return "an event is a list: its name, then its arguments"
        if data[0] in NOT_CLIENT_EVENTS:
            return f"{data[0][:40]!r} is not an event a client sends"
    elif packet_type == sio_packet.ACK:
        if not isinstance(data, list):
            return "an acknowledgement is a list"
    elif packet_type == sio_packet.CONNECT:
        if data is not None and not isinstance(data, dict):
            return "a connect's data is an object"
    elif packet_type in (sio_packet.BINARY_EVENT, sio_packet.BINARY_ACK):
        return "binary attachments are not taken (docs/protocol.md)"
    elif packet_type != sio_packet.DISCONNECT:
        return "not a packet a client sends"
    return None


def _shown(name):
    """A client's event name as a log line or an answer may quote it: short, repr'd."""
    return repr(name[:40] if isinstance(name, str) else name)[:60]


class SocketRefusals:
    """Socket.IO messages refused, bound to Flask-SocketIO's server by install(): those
    ClientPacket refuses, an event whose handler does not take its arguments, an event nobody
    handles. Each is counted by kind, logged without a traceback at most once per kind every 5 s,
    and, when the client asked for an acknowledgement, answered {"ok": false, "code":
    "bad_request", "error"}; the connection stays usable. A handler that fails is a bug of ours:
    logged with its traceback (at most once per event every 5 s), counted, answered
    `internal_error`; a failed connect refuses the connection."""

    def __init__(self, clock=time.monotonic):
        self.counts = dict.fromkeys(BAD_MESSAGE_KINDS, 0)
        self.handler_errors = 0
        self.log = RateLimitedLog(log, 5.0, clock)
        self.server = None  # socketio.Server, once installed

    def install(self, socketio):
        """Wrap python-engineio's message handler (outermost: the relay's message budget, inside,
        still counts first), and set Flask-SocketIO's default error handler and catch-all event."""
        server = self.server = socketio.server
        on_message = server.eio.handlers["message"]

        def message(eio_sid, data):
            try:
                return on_message(eio_sid, data)
            except BadMessage as bad:
                self._answer(eio_sid, bad)
            except Exception as exc:  # python-socketio refusing what ClientPacket let through
                self.refuse("malformed", f"not usable ({type(exc).__name__}: {str(exc)[:100]})",
                            self._address(eio_sid))
                log.debug("the refused message's failure in full", exc_info=True)
            return None

        server.eio.on("message", message)
        socketio.on_error_default(self.handler_failed)
        socketio.on_event("*", self.unknown_event)

    def refuse(self, kind, why, address=None):
        """Count and log (rate-limited) a refused message; returns the answer its client gets."""
        self.counts[kind] += 1
        self.log.warning(kind, "refused a Socket.IO message from %s (%s): %s", address or "?",
                         kind, why)
        return {"ok": False, "code": "bad_request", "error": why}

    def _address(self, eio_sid):
        return (self.server.environ.get(eio_sid) or {}).get("REMOTE_ADDR")

    def _answer(self, eio_sid, bad):
        """Refuse a message ClientPacket could not use; acknowledge it when it was an event that
        asked for an acknowledgement on a namespace the client is connected to."""
        body = self.refuse(bad.kind, str(bad), self._address(eio_sid))
        if bad.ack is None or bad.packet_type not in (sio_packet.EVENT, sio_packet.BINARY_EVENT):
            return
        namespace = bad.namespace or "/"
        if self.server.manager.sid_from_eio_sid(eio_sid, namespace) is None:
            return  # not connected there: python-socketio would not have answered either
        self.server.eio.send(eio_sid, self.server.packet_class(
            sio_packet.ACK, namespace=namespace, id=bad.ack, data=[body]).encode())

    def unknown_event(self, event, *args):
        """Flask-SocketIO's catch-all handler: an event nobody handles is refused (python-socketio
        would leave a client waiting for its acknowledgement)."""
        known = sorted(name for name in self.server.handlers.get("/", {})
                       if name not in NOT_CLIENT_EVENTS)
        return self.refuse("unknown_event", f"unknown event {_shown(event)}; known: "
                           f"{', '.join(known)}", request.remote_addr)

    def handler_failed(self, exc):
        """Flask-SocketIO's default error handler (on_error_default): what a handler raised."""
        event = getattr(request, "event", None) or {}
        name, args = event.get("message"), event.get("args") or ()
        tb = exc.__traceback__
        # A TypeError raised by the call itself (its traceback ends in Flask-SocketIO's frame that
        # calls the handler): the handler does not take these arguments.
        if isinstance(exc, TypeError) and name not in ("connect", "disconnect") \
                and tb is not None and tb.tb_next is None:
            return self.refuse("bad_arguments", f"wrong arguments for {_shown(name)} ({len(args)} "
                               "given): send one object (docs/protocol.md)", request.remote_addr)
        self.handler_errors += 1
        speak, suppressed = self.log.limiter.allow(f"handler:{name}")
        if speak:
            log.error("the Socket.IO handler of %s failed%s", _shown(name),
                      f" ({suppressed} more since the last report)" if suppressed else "",
                      exc_info=exc)
        if name == "connect":
            return False  # who it is could not be told: refused (it may connect again)
        return {"ok": False, "code": "internal_error", "error": "internal error"}

    def stats(self):
        """For /healthz, beside the relay's other counters."""
        return {"bad_messages": sum(self.counts.values()),
                "bad_messages_by_kind": dict(self.counts), "handler_errors": self.handler_errors}
