"""Socket.IO relay: subscriptions with filters, a snapshot on subscribe, then filtered, batched deltas.

Clients with the same filter share one room, and a batch is encoded once per room. During a burst a
room gets at most one batch per `interval`; after a quiet spell a change goes out at once.
Protocol: docs/protocol.md.
"""
import hashlib
import logging
import time

from flask import request
from flask_socketio import join_room, leave_room

from dashboard.filters import FilterError, parse_filter

log = logging.getLogger("dashboard.relay")


class Group:
    """The clients that share one filter, and the seq of the last batch sent to them."""

    def __init__(self, flt, sent_seq):
        self.filter = flt
        self.room = "f:" + hashlib.sha1(flt.key.encode()).hexdigest()[:16]
        self.sids = set()
        self.sent_seq = sent_seq


def select(flt, changes):
    """The wire form of the changes this filter lets through; a change that makes a visible object
    stop matching is sent as a removal (data null)."""
    out = []
    for change in changes:
        if change.data is not None and flt.matches(change.kind, change.data):
            out.append(change.wire())
        elif change.prev is not None and flt.matches(change.kind, change.prev):
            out.append(change.wire(removed=True))
    return out


class Relay:
    """Owns the Socket.IO handlers and the flush loop."""

    def __init__(self, socketio, state, meta, interval=0.1, max_pending=20000, mode="batched",
                 clock=time.monotonic):
        self.socketio = socketio
        self.state = state
        self.meta = meta
        self.interval = interval
        self.max_pending = max_pending
        self.mode = mode
        self.clock = clock
        self.groups = {}  # filter key → Group
        self.clients = {}  # sid → filter key
        self.pending = []
        self.last_flush = float("-inf")
        self.batches_sent = 0
        self.overflows = 0
        self._wake = None
        socketio.on_event("subscribe", self.on_subscribe)
        socketio.on_event("disconnect", self.on_disconnect)

    # -- Socket.IO handlers ----------------------------------------------------------------
    def on_subscribe(self, message=None):
        """Client asks for a filter: answer with an ack, then a snapshot of what matches."""
        raw = message.get("filter") if isinstance(message, dict) else message
        try:
            flt = parse_filter(raw)
        except FilterError as exc:
            return {"ok": False, "error": str(exc)}
        sid = request.sid
        self._leave(sid)
        group = self.groups.get(flt.key)
        if group is None:
            group = self.groups[flt.key] = Group(flt, self.state.seq)
        group.sids.add(sid)
        self.clients[sid] = flt.key
        join_room(group.room)
        snapshot = self.state.snapshot(flt.matches)
        snapshot["filter"] = flt.as_dict()
        snapshot["meta"] = self.meta
        self.socketio.emit("snapshot", snapshot, to=sid)
        return {"ok": True, "seq": snapshot["seq"]}

    def on_disconnect(self, *args):
        """Forget a client that went away."""
        self._leave(request.sid)

    def _leave(self, sid):
        key = self.clients.pop(sid, None)
        if key is None:
            return
        group = self.groups[key]
        group.sids.discard(sid)
        leave_room(group.room, sid=sid)
        if not group.sids:
            del self.groups[key]

    # -- deltas ----------------------------------------------------------------------------
    def push(self, changes):
        """Queue changes from ingest; the flush loop sends them."""
        if self.mode == "naive":
            self._send_naive(changes)
            return
        self.pending.extend(changes)
        if len(self.pending) > self.max_pending:
            # Sending has stalled: drop the backlog and have every client take a fresh snapshot.
            self.overflows += 1
            self.pending = []
            self._mark_gap()
            log.warning("more than %d changes pending: asking every client to resync",
                        self.max_pending)
            self.socketio.emit("resync", {"reason": "backlog"})
        if self._wake is not None:
            self._wake.set()

    def flush(self):
        """Send everything pending, one encoded batch per group that has something to see."""
        batch, self.pending = self.pending, []
        self.last_flush = self.clock()
        if not batch:
            return
        seq = batch[-1].seq
        try:
            for group in list(self.groups.values()):
                selected = select(group.filter, batch)
                if not selected:
                    continue
                self.socketio.emit("changes", {"prev": group.sent_seq, "seq": seq,
                                               "changes": selected}, to=group.room)
                group.sent_seq = seq
                self.batches_sent += 1
        except Exception:
            self._mark_gap()  # some groups missed this batch: their next one shows the gap
            raise

    def _mark_gap(self):
        """Changes were dropped: make every group's next batch carry a `prev` its clients do not
        have, so that each client sees the gap and asks for a snapshot (besides `resync`)."""
        for group in self.groups.values():
            group.sent_seq = self.state.seq

    def _send_naive(self, changes):
        """Benchmark baseline: one emit per change per client, each encoded separately."""
        for change in changes:
            for group in list(self.groups.values()):
                for item in select(group.filter, [change]):
                    for sid in list(group.sids):
                        self.socketio.emit("changes", {"prev": group.sent_seq, "seq": change.seq,
                                                       "changes": [item]}, to=sid)
                    group.sent_seq = change.seq

    def run(self):
        """The flush loop: wait for changes, keep batches at least `interval` apart."""
        self._wake = self.socketio.server.eio.create_event()
        while True:
            self._wake.wait(1.0)
            self._wake.clear()
            if not self.pending:
                continue
            delay = self.last_flush + self.interval - self.clock()
            if delay > 0:
                self.socketio.sleep(delay)
            try:
                self.flush()
            except Exception:  # a failed send must not end the loop
                log.exception("flush failed")

    def set_status(self, status):
        """Merge into the meta every snapshot carries, and tell every client at once."""
        self.meta.update(status)
        self.socketio.emit("status", status)

    def stats(self):
        """Relay figures for /healthz."""
        return {"mode": self.mode, "clients": len(self.clients), "filters": len(self.groups),
                "pending": len(self.pending), "batches_sent": self.batches_sent,
                "overflows": self.overflows}
