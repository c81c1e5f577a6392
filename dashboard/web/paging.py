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
from dashboard.web.context import in_thread

HIDDEN_PAGES = 20  # a restricted viewer's page spans this many times its limit in ids ...
MIN_SPAN = 20_000  # ... and at least this many (a page of 1,000 read 20 pages before, as much)
EXPORT_SPAN = 200_000  # ids an export of a restricted viewer reads from its range's first


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


def export_rows(store, filters, since, until, view, most, page, run=in_thread):
    """Stored events oldest first, as this viewer may see them, at most `most`. For a viewer who
    may not see every job, from the first event of the time range (whatever the filters) through
    EXPORT_SPAN ids: what ends the export does not depend on rows they may not see."""
    by_submitter = "submitter" in filters
    after, sent, last = 0, 0, None
    if not view.sees_all:
        first = run(store.events, None, since, until, newest_first=False, limit=1)
        if not first:
            return
        after = first[0]["id"] - 1
        last = after + EXPORT_SPAN
    while sent < most:
        rows = run(store.events, filters, since, until, after=after, limit=page,
                         newest_first=False, before=None if last is None else last + 1)
        for row in view.rows(rows, by_submitter=by_submitter)[:most - sent]:
            sent += 1
            yield row
        if len(rows) < page:
            return
        after = rows[-1]["id"]
