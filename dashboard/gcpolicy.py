"""When the garbage collector runs, in the app and in the store's writer process. Standard library
only: app.py applies it before anything else is made.

CPython collects its youngest generation after every 700 container objects (tuples, lists, dicts)
that are made and still alive. On the ingest path that is every few hundred events: the queued rows
of the store (tuples, alive until their batch is written), the model's records, the relay's
batches. Each young collection walks every young container, and every tenth walks the middle
generation too. At the default, the app spent about 3 µs an event collecting with the store and 1
without it (bench/store.py, counted with gc.callbacks), and nearly every object it walked was
still alive: almost nothing on that path makes reference cycles, which are all the collector
frees (reference counting frees the rest at once). With YOUNG at 10,000, the app's CPU per event
fell by a tenth (docs/performance.md, "The garbage collector").

What it costs: a young collection walks up to YOUNG objects at a time (about 10 ms at 20,000
events/s, every half second; far less often at a lab's usual rates), and cycles wait a little longer
to be freed: at most YOUNG containers' worth before the next young collection.
"""
import gc

YOUNG = 10_000  # containers made (and still alive) between two collections of the youngest generation


def apply():
    """Collect the youngest generation every YOUNG containers; the older ones as CPython does."""
    gc.set_threshold(YOUNG, *gc.get_threshold()[1:])


def stats():
    """The /healthz section: the thresholds, and each generation's collections so far."""
    return {"threshold": list(gc.get_threshold()),
            "collections": [generation["collections"] for generation in gc.get_stats()],
            "uncollectable": sum(generation["uncollectable"] for generation in gc.get_stats())}
