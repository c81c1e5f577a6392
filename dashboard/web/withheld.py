"""Each lab's stored history withheld from every viewer (core.withheld): the boards LAVA hides
now, as the lab's live model and store have them. Only with access control and a LAVA to ask
(the screen of core/screen.py: the ingest process's, which a cluster's web processes follow
through its model); None otherwise. Found again at most every FRESH_FOR seconds per lab."""
import logging
import time

from flask import current_app

from dashboard.core.visibility import OPEN
from dashboard.core.withheld import Withheld
from dashboard.web.context import in_thread, services

FRESH_FOR = 2.0
JOBS_FOR = 300.0  # s the jobs on withheld boards are kept while the boards are the same
WARN_EVERY = 60.0  # s between two warnings of a store that cannot say which boards it holds
_warned = [float("-inf")]
log = logging.getLogger("dashboard.web.withheld")
# Stored boards (and types) read at most: past core.withheld.MAX_LEFT_OUT aggregates are
# withheld anyway.
MOST_READ = 100_000


def screened(parts, settings):
    """Whether this lab's boards are screened: access control, and a LAVA to ask."""
    return settings["access"] != OPEN and bool(parts.settings.get("lava_url"))


def _jobs_on(parts, hidden, now):
    """The jobs with a stored row on these boards: read again only when the boards change, or
    after JOBS_FOR (the screen keeps them out of the store: only retention changes them; the
    read took 0.6 s for 200 boards, docs/performance.md)."""
    kept = current_app.extensions.setdefault("dashboard_withheld_jobs", {})
    found = kept.get(parts.name)
    if found is not None and found[1] == hidden and now - found[0] < JOBS_FOR:
        return found[2]
    jobs = in_thread(parts.store.jobs_on, hidden, MOST_READ)
    kept[parts.name] = (now, hidden, jobs)
    return jobs


def lab_withheld(name=""):
    """The Withheld of the named lab ("" for the one unnamed lab), or None (nothing withheld)."""
    ext = services()
    parts = ext.lab(name) if ext.named else ext.labs[0]
    if parts is None or not screened(parts, ext.settings):
        return None
    cache = current_app.extensions.setdefault("dashboard_withheld", {})
    found = cache.get(parts.name)
    now = time.monotonic()
    devices = parts.state.devices
    if found is not None:
        # (Found again at once when the model gained or lost a board: one LAVA shows again is
        # shown with its history at once.)
        if now - found[0] < FRESH_FOR and len(devices) == len(found[1].shown):
            return found[1]
        cache[parts.name] = (now, found[1])  # the others meanwhile: the last one, not a read each
    unread, stored, stored_types, jobs = False, (), (), ()
    try:
        if parts.store is not None:
            stored, stored_types = in_thread(parts.store.stored_boards, MOST_READ)
            hidden = tuple(d for d in stored if d not in devices)
            if hidden:  # the jobs that ran on them: their other rows go too (a queued one's)
                jobs = _jobs_on(parts, hidden, now)
    except Exception as exc:  # a store that cannot answer: rows are still left out by the model,
        # and aggregates (which need the store too) are not given
        unread = True
        if now - _warned[0] > WARN_EVERY:
            _warned[0] = now
            log.warning("cannot read which boards the store holds (%s): charts and reports are "
                        "withheld meanwhile", type(exc).__name__)
    # (A copy, taken with no yield until it is made: what is withheld changes all at once, every
    # FRESH_FOR at most. The jobs read above may be a round older: for FRESH_FOR at most.)
    withheld = Withheld(frozenset(devices), {d.get("device_type") for d in devices.values()}, stored,
                        stored_types, jobs=jobs, cut_short=unread or max(
                            len(stored), len(stored_types), len(jobs)) >= MOST_READ)
    cache[parts.name] = (now, withheld)
    return withheld
