"""Subscribe to one lava-publisher endpoint with a green ZMQ SUB socket."""
import logging

log = logging.getLogger("dashboard.sources.zmq")

YIELD_EVERY = 100  # a green recv only yields when the socket is empty: yield ourselves under a stream
HEARTBEAT_IVL_MS = 10_000
HEARTBEAT_TIMEOUT_MS = 30_000
RCVHWM = 100_000  # messages queued in ZMQ before it drops: bounded, and roomy enough for bursts


class ZmqSource:
    """A SUB socket connected to `endpoint`, receiving topics that start with `topic_prefix`."""

    def __init__(self, endpoint, topic_prefix, zmq, sleep, spawn, status, max_message_size):
        self.endpoint = endpoint
        self.topic_prefix = topic_prefix
        self.zmq = zmq
        self.sleep = sleep
        self.spawn = spawn
        self.status = status
        # ZMQ disconnects a peer that sends a frame over MAXMSGSIZE, losing what follows; so the
        # socket's cap is far above the configured limit, which ingest enforces by dropping.
        self.hard_cap = max(16 * max_message_size, 16 << 20)

    def _open(self):
        zmq = self.zmq
        self.context = zmq.Context()
        sock = self.context.socket(zmq.SUB)
        sock.setsockopt(zmq.LINGER, 0)
        sock.setsockopt(zmq.RCVHWM, RCVHWM)
        sock.setsockopt(zmq.MAXMSGSIZE, self.hard_cap)
        sock.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
        sock.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
        sock.setsockopt(zmq.HEARTBEAT_TTL, HEARTBEAT_TIMEOUT_MS)
        sock.setsockopt(zmq.TCP_KEEPALIVE, 1)
        sock.setsockopt(zmq.RECONNECT_IVL, 200)
        sock.setsockopt(zmq.RECONNECT_IVL_MAX, 5000)
        sock.setsockopt(zmq.SUBSCRIBE, self.topic_prefix.encode("utf-8"))
        monitor = sock.get_monitor_socket()
        self.spawn(self._watch, monitor)
        sock.connect(self.endpoint)
        return sock

    def _watch(self, monitor):
        """Follow the socket's connection events into the source status."""
        from zmq.utils.monitor import parse_monitor_message
        zmq = self.zmq
        names = {zmq.EVENT_CONNECTED: "connected", zmq.EVENT_DISCONNECTED: "disconnected",
                 zmq.EVENT_CONNECT_RETRIED: "connecting", zmq.EVENT_CLOSED: "disconnected"}
        while True:
            try:
                event = parse_monitor_message(monitor.recv_multipart())
            except Exception as exc:  # the monitor closes with the socket
                log.debug("monitor of %s ended: %r", self.endpoint, exc)
                return
            if event["event"] == zmq.EVENT_MONITOR_STOPPED:
                return
            state = names.get(event["event"])
            if state == "connecting" and self.status.state == "connected":
                continue
            if state:
                if state != self.status.state:
                    log.info("%s: %s", self.endpoint, state)
                self.status.set_state(state)

    def run(self, handle):
        """Receive forever, handing each multipart message to handle(status, frames)."""
        sock = self._open()
        received = 0
        while True:
            try:
                frames = sock.recv_multipart()
            except self.zmq.ZMQError as exc:
                log.warning("%s: receive failed: %r", self.endpoint, exc)
                self.sleep(1.0)
                continue
            handle(self.status, frames)
            received += 1
            if received % YIELD_EVERY == 0:
                self.sleep(0)
