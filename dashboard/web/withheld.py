"""Each lab's stored history withheld from every viewer (core.withheld): the boards LAVA hides
now, as the lab's live model and store have them. Only with access control and a LAVA to ask
(the screen of core/screen.py: the ingest process's, which a cluster's web processes follow
through its model); None otherwise. Found again at most every FRESH_FOR seconds per lab."""
import time

from flask import current_app

from dashboard.core.visibility import OPEN
from dashboard.core.withheld import Withheld
from dashboard.web.context import in_thread, services

FRESH_FOR = 2.0
# Stored boards (and types) read at most: past core.withheld.MAX_LEFT_OUT aggregates are
# withheld anyway.
MOST_READ = 100_000


def screened(parts, settings):
    """Whether this lab's boards are screened: access control, and a LAVA to ask."""
    return settings["access"] != OPEN and bool(parts.settings.get("lava_url"))


def lab_withheld(name=""):
    """The Withheld of the named lab ("" for the one unnamed lab), or None (nothing withheld)."""
    ext = services()
    parts = ext.lab(name) if ext.named else ext.labs[0]
    if parts is None or not screened(parts, ext.settings):
        return None
    cache = current_app.extensions.setdefault("dashboard_withheld", {})
    found = cache.get(parts.name)
    now = time.monotonic()
    if found is not None and now - found[0] < FRESH_FOR:
        return found[1]
    stored, stored_types = (in_thread(parts.store.stored_boards, MOST_READ)
                            if parts.store is not None else ((), ()))
    devices = parts.state.devices  # (no yield from here on: the loop does not move it meanwhile)
    withheld = Withheld(devices, {d.get("device_type") for d in devices.values()}, stored,
                        stored_types, cut_short=max(len(stored), len(stored_types)) >= MOST_READ)
    cache[parts.name] = (now, withheld)
    return withheld
