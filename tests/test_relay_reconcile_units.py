"""Unit checks of two safety nets that integration tests cannot provoke on demand."""
import threading

from dashboard.filters import parse_filter
from dashboard.health import SourceStatus
from dashboard.reconcile import Reconciler
from dashboard.relay import Group, Relay
from dashboard.sources.rest import LavaError
from dashboard.state import Change, LabState


class RecordingSocketIO:
    """Stands in for Flask-SocketIO's emit/on_event only; records what would be sent."""

    def __init__(self):
        self.sent = []

    def on_event(self, name, handler):
        pass

    def emit(self, event, data=None, to=None):
        self.sent.append((event, data, to))


def test_a_dropped_backlog_shows_as_a_gap_in_the_next_batch():
    sio, state = RecordingSocketIO(), LabState()
    relay = Relay(sio, state, {}, max_pending=5)
    group = Group(parse_filter({}), sent_seq=0)  # its clients hold seq 0
    relay.groups[group.filter.key] = group
    state.seq = 8
    relay.push([Change(i, "worker", f"w{i}", {"hostname": f"w{i}"}) for i in range(1, 9)])
    assert relay.pending == [] and relay.overflows == 1
    assert ("resync", {"reason": "backlog"}, None) in sio.sent
    state.seq = 9
    relay.push([Change(9, "worker", "w9", {"hostname": "w9"})])
    relay.flush()
    event, batch, room = sio.sent[-1]
    # A client at seq 0 that missed `resync` sees prev 8 > 0: a gap, so it asks for a snapshot.
    assert (event, room, batch["prev"], batch["seq"]) == ("changes", group.room, 8, 9)


class Clock:
    now = 1000.0

    def __call__(self):
        return self.now


def test_a_silent_source_does_not_cancel_the_backoff_while_lava_fails():
    clock = Clock()
    settings = {"reconcile_interval": 300, "silence_timeout": 10, "max_finished_jobs": 10}
    reconciler = Reconciler(LabState(), Relay(RecordingSocketIO(), LabState(), {}), rest=None,
                            settings=settings, make_event=threading.Event, sleep=None, clock=clock)
    source = SourceStatus("tcp://127.0.0.1:1", "zmq", clock)
    source.last_message_at = 0.0  # silent for 1,000 s
    reconciler.sources.append(source)
    reconciler.loaded, reconciler.last_success = True, 0.0
    assert reconciler._silent() is True  # healthy but silent: reconcile now
    reconciler._failed(LavaError("auth", "LAVA refused it"))
    assert reconciler._silent() is False  # failing: the backoff decides, not the silence
