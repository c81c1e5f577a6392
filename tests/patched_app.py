"""app.py as the tests run it when it starts as a new process (with module constants set, an
environment of its own, or after a test changed the worker's; the rest are forked by
tests/forkserver.py, which leaves aiohttp out alike): `python -m tests.patched_app
[MODULE.NAME=VALUE ...] -- <app.py's arguments>`.

- As deployed: without aiohttp, which only the tests install (requirements-test.txt: tests/lava_ws.py
  serves lava-publisher's WebSocket with it). python-engineio imports it whenever it is there
  (its asyncio client), and that was a tenth of a second of each of the suite's 400 app starts.
- With some module constants set first, for a test that would otherwise wait out a fixed
  production interval (a minute of messages before LAVA's clock offset is known). Each such
  interval keeps its own unit test at its real value.
The rest is the real app."""
import ast
import importlib
import sys


def main(argv):
    sys.modules.setdefault("aiohttp", None)  # (an import of it then raises ImportError)
    cut = argv.index("--")
    for item in argv[:cut]:
        name, _, value = item.partition("=")
        module, _, attribute = name.rpartition(".")
        # Set before app.main patches the standard library for eventlet or gevent, so only in the
        # pure core, which imports nothing that patching must come first for (a review: a web
        # module's constant imported Flask first, and eventlet then patched a broken process).
        if not module.startswith("dashboard.core."):
            sys.exit(f"tests.patched_app: {module} is not in dashboard.core")
        target = importlib.import_module(module)
        if not hasattr(target, attribute):  # a constant renamed: say so, not set a new one
            sys.exit(f"tests.patched_app: {module} has no {attribute}")
        setattr(target, attribute, ast.literal_eval(value))
    early = sorted(m for m in ("flask", "eventlet", "gevent", "zmq", "socketio") if m in sys.modules)
    if early:
        sys.exit(f"tests.patched_app: {', '.join(early)} imported before the patching")
    import app

    app.main(argv[cut + 1:])


if __name__ == "__main__":
    main(sys.argv[1:])
