"""The one path every message takes: source → parse → state → (store, relay). Never lets a bad
message stop it."""
import time

from dashboard.events import ParseError, parse_frames
from dashboard.store import row_for


class Ingest:
    """Parses frames, applies events to the model and hands the changes to the relay."""

    def __init__(self, state, relay, health, max_message_size, store=None):
        self.state = state
        self.relay = relay
        self.health = health
        self.max_message_size = max_message_size
        self.store = store

    def handle(self, source, frames):
        """Handle one multipart message from `source` (a SourceStatus). Never raises."""
        self.health.message(source)
        try:
            event = parse_frames(frames, self.max_message_size)
        except ParseError as error:
            self.health.reject(source, error, frames)
            return
        except Exception as exc:  # a parser bug must not kill the loop either
            self.health.internal_error(source, exc)
            return
        try:
            before = self.state.duplicates
            changes = self.state.apply(event)
            if self.state.duplicates != before:
                self.health.duplicates += 1
                return
            self.health.accepted += 1
            if self.store is not None:
                context = {}
                if event.kind not in ("device", "testjob", "worker"):
                    job = event.data.get("job")
                    context = (self.state.jobs.get(job) if isinstance(job, int) else None) or {}
                self.store.enqueue(row_for(event, frames, context, time.time()))
            if changes:
                self.relay.push(changes)
        except Exception as exc:
            self.health.internal_error(source, exc)
