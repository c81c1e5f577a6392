"""What the store's OS threads and its writer process need where eventlet or gevent patched the
standard library: its functions as they were, a lock between OS threads, and SQLite's own count of
the heap it holds."""
import importlib
import sys
import types

_SQLITE_MEMORY = []  # [function] once looked up: SQLite's own count of the heap it holds


def sqlite_memory_mb():
    """MB of heap SQLite holds in this process (its page caches above all), as SQLite counts it;
    None where the library cannot be asked (a Python built with SQLite inside it)."""
    if not _SQLITE_MEMORY:
        import ctypes
        import ctypes.util
        try:
            fn = ctypes.CDLL(ctypes.util.find_library("sqlite3") or "libsqlite3.so.0").sqlite3_memory_used
            fn.restype = ctypes.c_int64
        except (OSError, AttributeError):
            fn = None
        _SQLITE_MEMORY.append(fn)
    fn = _SQLITE_MEMORY[0]
    return None if fn is None else round(fn() / 1e6, 1)


def unpatched(module, *names):
    """The functions `names` of a standard module as they were before eventlet or gevent patched it
    (whichever the app runs on), as attributes: what real OS threads, and a hub that may block,
    must use."""
    if "eventlet" in sys.modules:
        from eventlet import patcher
        original = patcher.original(module)
        values = [getattr(original, name) for name in names]
    elif "gevent" in sys.modules:
        from gevent import monkey
        values = monkey.get_original(module, list(names))
    else:
        original = importlib.import_module(module)
        values = [getattr(original, name) for name in names]
    return types.SimpleNamespace(**dict(zip(names, values)))


def os_thread_rlock():
    """A lock between OS threads, even where eventlet or gevent patched `threading`.

    Writes come from real threads (eventlet's tpool, gevent's threadpool) and now and then from the
    hub's thread. A green lock cannot be shared between OS threads: under eventlet a writer waiting
    on it from a tpool thread is never woken, and the store (and every caller waiting on it, such as
    the alert engine) stops for good. The lock is held only around SQLite calls, which never yield.
    """
    return unpatched("_thread", "RLock").RLock()
