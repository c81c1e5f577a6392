"""LAVA Live Dashboard.

The app factory is in dashboard/factory.py and is imported on first use, so that app.py can read
its settings (dashboard.config, standard library only) before it monkey-patches for eventlet or
gevent: importing Flask first makes eventlet's patching trip over Flask's context proxies.
"""
__version__ = "0.1.0"

_FACTORY = ("create_app", "start_background_tasks", "shutdown", "socketio", "log")


def __getattr__(name):
    if name in _FACTORY:
        from dashboard import factory
        return getattr(factory, name)
    raise AttributeError(f"module 'dashboard' has no attribute {name!r}")
