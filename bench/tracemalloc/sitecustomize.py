"""Loaded by the app's interpreter when bench/soak.py --tracemalloc is given (this folder is put
first on its PYTHONPATH): traces Python's allocations and writes, every SOAK_TRACEMALLOC_EVERY
seconds, the sites whose memory grew most since the first dump, to SOAK_TRACEMALLOC_OUT. A real OS
thread, started before the app monkey-patches anything; bench only, never in the app."""
import os
import threading
import time
import tracemalloc

_OUT = os.environ.get("SOAK_TRACEMALLOC_OUT")
if _OUT:
    _EVERY = float(os.environ.get("SOAK_TRACEMALLOC_EVERY", "300"))
    _sleep = time.sleep  # the real one: eventlet patches the module's later
    tracemalloc.start(int(os.environ.get("SOAK_TRACEMALLOC_FRAMES", "4")))

    def _dump():
        first = None
        for n in range(1000):  # bounded: 1000 dumps
            _sleep(_EVERY)
            snap = tracemalloc.take_snapshot().filter_traces(
                (tracemalloc.Filter(False, tracemalloc.__file__),))
            if first is None:
                first = snap
            stats = snap.compare_to(first, "traceback")[:25]
            total = sum(s.size for s in snap.statistics("filename"))
            with open(_OUT, "a") as out:
                out.write(f"== dump {n} at {time.strftime('%H:%M:%S')}: traced {total / 2**20:.1f} MB\n")
                for stat in stats:
                    out.write(f"{stat.size_diff / 2**20:+.2f} MB ({stat.count_diff:+d} blocks), "
                              f"now {stat.size / 2**20:.2f} MB\n")
                    for line in stat.traceback.format()[-8:]:
                        out.write("    " + line + "\n")
    threading.Thread(target=_dump, name="soak-tracemalloc", daemon=True).start()
