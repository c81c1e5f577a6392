"""Python's garbage collector in a long-running dashboard: what it holds still, frozen once the
app has started, and how long its full collections stop every green thread (the loop: every
client and source), timed for /healthz.

A full collection walks every object the collector tracks. After start-up that is some 90,000
(Flask, Socket.IO, eventlet, the app's own modules and settings), none of which ever becomes
garbage; with a large lab the occasional full collections held the loop 80-105 ms
(bench/bigstate.py; docs/performance.md, "The collector's full collections").
gc.freeze() moves what exists once the app has started to a generation no collection walks:
later collections walk only what came after. (A frozen object that stops being used is still
freed by its reference count; only a cycle of frozen objects would stay, and start-up leaves
none that ends.)
"""
import gc
import threading
import time

# Full collections timed: only the last one's and the longest's times are kept, and their count.
_lock = threading.Lock()
_clock = time.perf_counter  # (a test moves its own)
_state = {"frozen": 0, "full_collections": 0, "last_full_ms": None, "longest_full_ms": None,
          "started": None}


def _callback(phase, info):
    """gc.callbacks' hook: times each full (generation 2) collection. Called for every
    collection of every generation: returns at once for the others."""
    if info.get("generation") != 2:
        return
    if phase == "start":
        _state["started"] = _clock()
        return
    started = _state["started"]
    if started is None:
        return
    ms = (_clock() - started) * 1000
    with _lock:
        _state["started"] = None
        _state["full_collections"] += 1
        _state["last_full_ms"] = round(ms, 2)
        longest = _state["longest_full_ms"]
        _state["longest_full_ms"] = round(ms, 2) if longest is None or ms > longest else longest


def freeze_after_start():
    """Once the app has started (its modules, settings and restored model made): collect what
    start-up left behind, then freeze the rest, and time every full collection from now on.
    Returns how many objects were frozen."""
    gc.collect()
    gc.freeze()
    with _lock:
        _state["frozen"] = gc.get_freeze_count()
    if _callback not in gc.callbacks:
        gc.callbacks.append(_callback)
    return _state["frozen"]


def stats():
    """The /healthz section: objects frozen at start (0: not frozen, e.g. the app run inside
    another program), full collections since and their times (ms)."""
    with _lock:
        return {k: v for k, v in _state.items() if k != "started"}
