"""Pages of stored events as one viewer may see them: the events API, the Atom feed and exports.

A viewer who may not see every job gets only the rows they may see, and what decides where a page
ends must not depend on the rows they may not see either. Reading "up to N rows that match, then
dropping the hidden ones" does: with a submitter filter, a page that ends early (or a cursor that
jumps) says that hidden rows of that submitter were read, so whose a private job is; with a job
filter, the cursor's steps count a hidden job's test-shell messages. So for such a viewer a page
covers a span of event ids fixed before anything is read (ids are one series for the whole lab,
docs/security.md); it holds the rows in that span they may see, up to the limit; the next page
starts at the last row shown, or past the span. What is read for one page stays bounded by the
span (a span of N ids holds at most N rows).
"""
import dataclasses

from dashboard.web.context import in_thread

HIDDEN_PAGES = 20  # a restricted viewer's page spans this many times its limit in ids ...
MIN_SPAN = 20_000  # ... and at least this many (a page of 1,000 read 20 pages before, as much)
# Ids an export takes beyond the events nearest its range's ends: events stored this many ids out
# of time order (a late message, a correction stamped later) are still in the range's export.
MARGIN = 10_000


def span_of(limit):
    """How many event ids a restricted viewer's page of `limit` rows covers."""
    return max(HIDDEN_PAGES * limit, MIN_SPAN)


def visible_page(store, view, filters, since, until, before, limit, run=in_thread):
    """(up to `limit` stored events this viewer may see, newest first; the `before` of the next
    page, or None). A query by submitter drops hidden rows altogether (their presence would tell
    whose the job is); any other shows them redacted. `run` runs a store read (off the loop)."""
    by_submitter = "submitter" in filters
    if view.sees_all:
        rows = run(store.events, filters, since, until, before=before, limit=limit)
        return rows, rows[-1]["id"] if len(rows) == limit else None
    oldest, newest = run(store.id_bounds)
    if newest is None:
        return [], None
    top = min(before, newest + 1) if before is not None else newest + 1
    floor = top - span_of(limit) - 1  # the span's ids: above it, below top
    shown, cursor = [], top
    for _ in range(span_of(limit) // limit + 1):  # the span's rows, `limit` at a time
        rows = run(store.events, filters, since, until, before=cursor, after=floor, limit=limit)
        for row in rows:
            visible = view.row(row, by_submitter)
            if visible is not None:
                shown.append(visible)
                if len(shown) == limit:
                    return shown, row["id"]
        if len(rows) < limit:
            break
        cursor = rows[-1]["id"]
    return shown, floor + 1 if floor >= oldest else None


@dataclasses.dataclass(frozen=True)
class ExportPlan:
    """The event ids an export holds, fixed before a byte of it is sent (so that its headers can
    say whether it holds its whole range, and where the rest starts)."""

    after: int  # it reads the ids above this one ...
    last: int  # ... through this one
    rest: int = None  # the rest of the range is past this id (the next export's after_id), or None


def plan_export(store, filters, since, until, view, most, after=0, run=in_thread):
    """Which ids an export of the time range holds, at most `most` rows, from the first after
    `after`; None when it holds none. Ids written later are not in it.

    Where the range's ids begin and end is found from events every viewer is shown (a device's,
    a worker's, a job's state: `store.anchor_id`), never from all of them: where an export of a
    viewer who may not see every job begins, ends and says it goes on must not depend on the
    rows hidden from them (a private job's messages: moving `since` across one would have told
    when it was written). Ids and times agree but for events stored late, so MARGIN ids are
    taken on either side (rows outside the range are left out as they are read). For a viewer
    who may not see every job, a part holds `most` ids (at most `most` rows); for any other, up to
    the `most`-th matching row."""
    newest = run(store.id_bounds)[1]
    if newest is None or newest <= after:
        return None
    before = run(store.anchor_id, since, "before") if since is not None else None
    beyond = run(store.anchor_id, until, "after") if until is not None else None
    start = max(after, (before or 0) - MARGIN)
    end = newest if beyond is None else min(newest, beyond + MARGIN)
    if start >= end:
        return None
    if view.sees_all:
        cut = run(store.cut_id, filters, since, until, start, most, end + 1)
        return ExportPlan(start, end) if cut is None else ExportPlan(start, cut, cut)
    last = min(start + most, end)
    return ExportPlan(start, last, last if last < end else None)


def export_rows(store, filters, since, until, view, plan, page, run=in_thread):
    """The stored events of an ExportPlan oldest first, as this viewer may see them, read `page`
    rows at a time."""
    by_submitter = "submitter" in filters
    after = plan.after
    for _ in range((plan.last - plan.after) // page + 1):  # each read moves `after` on by `page`
        rows = run(store.events, filters, since, until, after=after, before=plan.last + 1,
                   limit=page, newest_first=False)
        yield from view.rows(rows, by_submitter=by_submitter)
        if len(rows) < page:
            return
        after = rows[-1]["id"]
