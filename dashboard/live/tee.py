"""A sink that passes the model's changes on, then shows them to observers (e.g. the job timings of
/metrics). An observer's failure is counted and logged, never stops the changes."""
import logging

log = logging.getLogger("dashboard.tee")


class Tee:
    def __init__(self, sink, *observers):
        self.sink = sink
        self.observers = observers
        self.errors = 0

    def push(self, changes):
        self.sink.push(changes)
        for observer in self.observers:
            try:
                observer.push(changes)
            except Exception:
                self.errors += 1
                if self.errors <= 3 or self.errors % 1000 == 0:
                    log.exception("an observer of the model's changes failed (%d so far)", self.errors)
