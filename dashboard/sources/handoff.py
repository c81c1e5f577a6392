"""The bounded queue between the thread that reads a ZMQ socket and the green loop that ingests.

Pure bookkeeping: nobody waits in here. The producer (an OS thread) puts chunks of messages and is
told whether to wake the consumer; the consumer takes one chunk at a time and is told whether to
wake the producer. The bound is in messages and in bytes; a full queue is never dropped from: the
producer stops reading, and what the publisher sends meanwhile waits in libzmq's own queue
(RCVHWM), where the lag watch sees it run late. The producer reads only while a whole chunk's worth
of bytes (`reserve`, the most one chunk may hold) still fits, so the bytes queued stay below
`max_bytes` whatever the messages' sizes. The lock is handed in: it must be a real OS
thread's lock (held only for a moment), never a green one.
"""
import collections


class Chunk:
    """Messages read together (each a list of frames), their size, the socket monitor's event
    codes read with them, and when they left the socket (epoch seconds)."""

    __slots__ = ("messages", "size", "events", "read_at")

    def __init__(self, messages, size, events=(), read_at=None):
        self.messages = messages
        self.size = size
        self.events = list(events)
        self.read_at = read_at


class HandOff:
    """The queue itself: at most about `max_messages` messages, and fewer than `max_bytes` bytes
    when no chunk holds more than `reserve` bytes (0: the bound may be exceeded by one chunk)."""

    def __init__(self, max_messages, max_bytes, lock, reserve=0):
        if max_messages < 1 or max_bytes < 1:
            raise ValueError("a hand-off holds at least one message and one byte")
        if not 0 <= reserve < max_bytes:  # else the producer could never read
            raise ValueError("a hand-off's reserve must be below its byte bound")
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.reserve = reserve
        self._lock = lock
        self._chunks = collections.deque()
        self.messages = 0  # queued now
        self.bytes = 0
        self.peak_messages = 0  # the most queued at once
        self.peak_bytes = 0
        self.fills = 0  # times the producer found it full and stopped reading
        self.handed = 0  # messages taken by the consumer so far
        self._consumer_waiting = False
        self._producer_waiting = False

    def put(self, chunk):
        """Queue a chunk (producer). Always accepted: the producer asks room() before it reads, so
        the bytes stay below the bound when the chunk is within `reserve` (the messages may exceed
        theirs by one chunk). True when the consumer must be woken."""
        with self._lock:
            self._chunks.append(chunk)
            self.messages += len(chunk.messages)
            self.bytes += chunk.size
            self.peak_messages = max(self.peak_messages, self.messages)
            self.peak_bytes = max(self.peak_bytes, self.bytes)
            wake, self._consumer_waiting = self._consumer_waiting, False
            return wake

    def room(self):
        """May the producer read more (producer)? When not, it should wait until woken: the take
        that makes room says so."""
        with self._lock:
            if self._has_room():
                return True
            if not self._producer_waiting:
                self.fills += 1
            self._producer_waiting = True
            return False

    def consumer_waiting(self):
        """Is the consumer idle, waiting to be woken by the next put? (a hint: read unlocked)"""
        return self._consumer_waiting

    def take(self):
        """(the oldest chunk or None, whether to wake the producer) (consumer). None means empty:
        the next put will say to wake the consumer."""
        with self._lock:
            if not self._chunks:
                self._consumer_waiting = True
                return None, False
            chunk = self._chunks.popleft()
            self.messages -= len(chunk.messages)
            self.bytes -= chunk.size
            self.handed += len(chunk.messages)
            wake = self._producer_waiting and self._has_room()
            if wake:
                self._producer_waiting = False
            return chunk, wake

    def _has_room(self):
        return self.messages < self.max_messages and self.bytes + self.reserve < self.max_bytes

    def as_dict(self):
        return {"queued": self.messages, "queued_bytes": self.bytes,
                "max_queued": self.peak_messages, "max_queued_bytes": self.peak_bytes,
                "bound": self.max_messages, "bound_bytes": self.max_bytes,
                "times_full": self.fills, "handed": self.handed}
