"""What the relay's change log may replay to a client that catches up (live/relay.py,
`changes_since`), once LAVA has hidden a board or a job since. Pure: Changes in, Changes out.

A catch-up is offered to any client that names an epoch, a view and a `since`, and an anonymous
page's epoch and view are everyone's: the log replayed a board LAVA had hidden since (its
records, its jobs' and their messages), and a job LAVA made hidden by scheduling it on such a
board (its queued record, in full if LAVA had said it was public). An audit found it. The log
keeps its numbers (a catch-up needs them consecutive), but each such change becomes one that
tells no one anything; the removals for the screen themselves stay, so that a page that held the
board, under any filter, is told to drop it (core/state.py, Change.screened).
"""
from dashboard.core.state import Change


def without_screened(log, batch):
    """`log`'s changes (the batch just pushed included) with every change about what `batch`'s
    removals for the screen took out made empty: the boards, the jobs (those removed, and those
    any change of the log places on such a board) and the messages of either. Returns (the
    changes, how many were made empty)."""
    boards = {(c.lab, c.id) for c in batch if c.screened and c.kind == "device"}
    jobs = {(c.lab, c.id) for c in batch if c.screened and c.kind == "job"}
    if boards:
        for c in log:
            if c.kind == "job" and not c.screened and any(
                    isinstance(obj, dict) and (c.lab, obj.get("device")) in boards
                    for obj in (c.data, c.prev)):
                jobs.add((c.lab, c.id))
    out, emptied = [], 0
    for c in log:
        if not c.screened and (c.data is not None or c.prev is not None) and _about(c, boards, jobs):
            out.append(Change(c.seq, c.kind, c.id, None, None, c.lab))
            emptied += 1
        else:
            out.append(c)
    return out, emptied


def _about(change, boards, jobs):
    key = (change.lab, change.id)
    if change.kind == "device":
        return key in boards
    if change.kind == "job":
        return key in jobs
    if change.kind == "event":
        data = change.data if isinstance(change.data, dict) else {}
        return (change.lab, data.get("device")) in boards or (change.lab, data.get("job")) in jobs
    return False
