"""The one path every message takes: source → parse → state → relay. Never lets a bad message stop it."""
from dashboard.events import ParseError, parse_frames


class Ingest:
    """Parses frames, applies events to the model and hands the changes to the relay."""

    def __init__(self, state, relay, health, max_message_size):
        self.state = state
        self.relay = relay
        self.health = health
        self.max_message_size = max_message_size

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
            if changes:
                self.relay.push(changes)
        except Exception as exc:
            self.health.internal_error(source, exc)
