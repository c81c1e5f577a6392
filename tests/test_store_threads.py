"""The store's writes from many real OS threads at once, under eventlet and under gevent (each in a
fresh process, patched as the app patches itself). With a green lock around the one writer
connection, a write waiting in one of eventlet's tpool threads was never woken: the store, and the
alert engine waiting on it, stopped for good."""
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import sys
    from dashboard import green
    green.monkey_patch(sys.argv[1])
    from dashboard.green import run_in_thread
    from dashboard.core.events import parse_frames
    from dashboard.storage.store import EventStore, row_for
    from tests.fixtures import captured_frames

    mode, path = sys.argv[1], sys.argv[2]
    store = EventStore(path)
    frames = captured_frames()

    def writer(i):
        for j in range(25):
            f = list(frames[(i * 25 + j) % len(frames)])
            f[1] = f"u-{i}-{j}".encode()
            store.enqueue(row_for(parse_frames(f), f, {}, 0.0))
            run_in_thread(mode, store.flush)
            run_in_thread(mode, store.save_model, {"devices": {}, "jobs": {}, "workers": {}}, j)

    if mode == "eventlet":
        import eventlet
        threads = [eventlet.spawn(writer, i) for i in range(12)]
        for t in threads:
            t.wait()
    else:
        import gevent
        gevent.joinall([gevent.spawn(writer, i) for i in range(12)], raise_error=True)
    print(store.written, store._rows("SELECT COUNT(*) AS n FROM events")[0]["n"])
""")


@pytest.mark.parametrize("mode", ["eventlet", "gevent"])
def test_concurrent_writes_from_real_threads_finish(tmp_path, mode):
    done = subprocess.run([sys.executable, "-c", SCRIPT, mode, str(tmp_path / "events.sqlite3")],
                          capture_output=True, text=True, timeout=60, cwd=str(tmp_path.cwd()))
    assert done.returncode == 0, done.stderr[-2000:]
    written, counted = map(int, done.stdout.split())
    assert written == counted == 12 * 25
