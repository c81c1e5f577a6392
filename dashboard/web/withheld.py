"""Each lab's stored history withheld from every viewer (core.withheld): the boards LAVA hides
now, as the lab's live model and store have them. Only with access control and a LAVA to ask
(the screen of core/screen.py: the ingest process's, which a cluster's web processes follow
through its model); None otherwise. Found again at most every FRESH_FOR seconds per lab, and
at once when the model's boards change."""
import logging
import time

from flask import current_app

from dashboard.core.visibility import OPEN
from dashboard.core.withheld import MAX_LEFT_OUT, Withheld
from dashboard.live.health import RateLimitedLog
from dashboard.web.context import in_thread, services

FRESH_FOR = 2.0
JOBS_FOR = 300.0  # s the jobs on withheld boards are kept while the boards are the same ...
AGAIN_AFTER = 2.0  # ... once read again this long after the boards changed
# A store that cannot say which boards it holds: said at most once a minute
log = RateLimitedLog(logging.getLogger("dashboard.web.withheld"), interval=60.0)
# Stored boards (and types) read at most: past core.withheld.MAX_LEFT_OUT aggregates are
# withheld anyway.
MOST_READ = 100_000


def screened(parts, settings):
    """Whether this lab's boards are screened: access control, and a LAVA to ask."""
    return settings["access"] != OPEN and bool(parts.settings.get("lava_url"))


def _jobs_on(parts, hidden, now):
    """(the jobs with a stored row on these boards, whether that list is cut short). Read again
    when the boards change; once more a little later (their last rows may have been waiting for
    the writer when LAVA hid them); then only every JOBS_FOR (the screen keeps them out of the
    store: only retention changes them; the read took 0.6 s for 200 boards,
    docs/performance.md). Not read past MAX_LEFT_OUT boards: cut short, so a job's row with no
    board goes whatever its job."""
    if len(hidden) > MAX_LEFT_OUT:
        return (), True
    kept = current_app.extensions.setdefault("dashboard_withheld_jobs", {})
    found = kept.get(parts.name)  # (when read, boards, jobs, read again since)
    if found is not None and found[1] == hidden and (
            now - found[0] < (JOBS_FOR if found[3] else AGAIN_AFTER)):
        return found[2], len(found[2]) >= MOST_READ
    jobs = in_thread(parts.store.jobs_on, hidden, MOST_READ)
    again = found is not None and found[1] == hidden
    kept[parts.name] = (now, hidden, jobs, again)
    return jobs, len(jobs) >= MOST_READ


def lab_withheld(name=""):
    """The Withheld of the named lab ("" for the one unnamed lab), or None (nothing withheld)."""
    ext = services()
    parts = ext.lab(name) if ext.named else ext.labs[0]
    if parts is None or not screened(parts, ext.settings):
        return None
    cache = current_app.extensions.setdefault("dashboard_withheld", {})
    found = cache.get(parts.name)  # (when found, Withheld, being found again now)
    now = time.monotonic()
    devices = parts.state.devices
    if found is not None:
        # Found again at once when the model's boards are not those it was found for: one LAVA
        # shows again is shown with its history at once, one it hides is withheld at once.
        if (now - found[0] < FRESH_FOR or found[2]) and found[1].shown == devices.keys():
            return found[1]
        if found[2]:  # another request is finding it: the last one meanwhile, not a read each,
            # but as of the boards shown now (a board LAVA has just hid is withheld at once: the
            # last one showed it to every request made while the store was read again)
            return found[1].against(frozenset(devices), {d.get("device_type")
                                                         for d in devices.values()})
        cache[parts.name] = (found[0], found[1], True)
    unread, jobs_cut, stored, stored_types, jobs = False, False, (), (), ()
    try:
        if parts.store is not None:
            stored, stored_types = in_thread(parts.store.stored_boards, MOST_READ)
            hidden = tuple(d for d in stored if d not in devices)
            if hidden and not devices:  # LAVA has not said which it shows (or nothing is
                jobs_cut = True  # shown): every board is withheld; not a read of every job
            elif hidden:  # the jobs that ran on them: their other rows go too (a queued one's)
                jobs, jobs_cut = _jobs_on(parts, hidden, now)
    except Exception as exc:  # a store that cannot answer: rows are still left out by the model,
        # and aggregates (which need the store too) are not given
        unread = jobs_cut = True
        log.warning("store", "cannot read which boards the store holds (%s): charts and reports "
                    "are withheld meanwhile", type(exc).__name__)
    finally:
        if found is not None and cache.get(parts.name, (0, 0, False))[2]:
            cache[parts.name] = found[0], found[1], False
    # (A copy, taken with no yield until it is made: what is withheld changes all at once. The
    # boards read above may be a read older: found again at the next request.)
    # (The model's screen; a cluster's web process has the ingest process's kept-out jobs.)
    screen = parts.state.screen if parts.state.screen is not None else parts.state.followed_screen
    withheld = Withheld(frozenset(devices), {d.get("device_type") for d in devices.values()},
                        stored, stored_types, jobs=jobs, jobs_cut=jobs_cut,
                        cut_short=unread or max(len(stored), len(stored_types)) >= MOST_READ,
                        kept_out=screen.kept_out_job if screen is not None else None)
    cache[parts.name] = (now, withheld, False)
    return withheld
