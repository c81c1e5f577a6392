"""Statistics from stored transitions: utilisation, queue length, outcomes. Pure: rows in, figures out.

A row is a stored event as a dict with at least `ts` and the fields named below.
"""
import datetime as dt

CATEGORIES = ("Running", "Idle", "Maintenance", "Bad", "Retired")


def device_category(state, health):
    """Where a device's time goes: health first (a Bad device is not available, whatever its state)."""
    if health == "Retired":
        return "Retired"
    if health in ("Maintenance", "Looping"):
        return "Maintenance"
    if health == "Bad":
        return "Bad"
    if state in ("Running", "Reserved"):
        return "Running"
    return "Idle"


def utilisation(before, rows, start, end):
    """Share of [start, end) each device type spent in each category.

    `before`: each device's last device row before `start` (its state at the start);
    `rows`: device rows inside the window, oldest first. Time before a device's first known state
    is not counted. Returns {device_type: {"seconds": total, category: share, ...}}."""
    current = {}  # device → (since_ts, category, device_type)
    seconds = {}

    def add(device_type, category, duration):
        bucket = seconds.setdefault(device_type, dict.fromkeys(CATEGORIES, 0.0))
        bucket[category] += max(0.0, duration)

    for row in before:
        current[row["device"]] = (start, device_category(row["state"], row["health"]), row["device_type"])
    for row in rows:
        ts = min(max(row["ts"], start), end)
        known = current.get(row["device"])
        if known:
            add(known[2], known[1], ts - known[0])
        current[row["device"]] = (ts, device_category(row["state"], row["health"]),
                                  row["device_type"] or (known[2] if known else None))
    for since, category, device_type in current.values():
        add(device_type, category, end - since)
    result = {}
    for device_type, bucket in seconds.items():
        total = sum(bucket.values())
        result[device_type or "unknown"] = {"seconds": round(total, 3), **{
            c: round(bucket[c] / total, 4) if total else 0.0 for c in CATEGORIES}}
    return result


def queue_length(before, rows, start, end, step):
    """The most jobs waiting (Submitted) at any moment of each step, stamped at its end: [(ts, n)].

    The maximum, not the count at the step's end, so that a queue shorter than a step still shows.
    `before`: each job's last testjob row before `start`; `rows`: testjob rows in the window."""
    queued = {r["job"] for r in before if r["state"] == "Submitted"}
    out, i = [], 0
    t = start + step
    while t <= end + 1e-9 and len(out) < 10_000:
        most = len(queued)
        while i < len(rows) and rows[i]["ts"] < t:
            row = rows[i]
            if row["state"] == "Submitted":
                queued.add(row["job"])
            else:
                queued.discard(row["job"])
            most = max(most, len(queued))
            i += 1
        out.append((round(t, 3), most))
        t += step
    return out


def outcomes_per_day(rows):
    """Finished jobs per UTC day and health: {"YYYY-MM-DD": {"Complete": n, ...}}; each job once."""
    seen, days = set(), {}
    for row in rows:
        if row["state"] != "Finished" or row["job"] in seen:
            continue
        seen.add(row["job"])
        day = dt.datetime.fromtimestamp(row["ts"], dt.timezone.utc).date().isoformat()
        bucket = days.setdefault(day, {})
        bucket[row["health"]] = bucket.get(row["health"], 0) + 1
    return days


def series_by_kind(buckets):
    """[(bucket_ts, kind, n)] → {kind: [[bucket_ts, n], ...]}."""
    out = {}
    for ts, kind, n in buckets:
        out.setdefault(kind, []).append([ts, n])
    return out


def device_timeline(before, rows, start, end):
    """Bands of one device's state and health: [{"from", "to", "state", "health", "category"}]."""
    bands = []
    current = None
    if before:
        current = {"from": start, "state": before[-1]["state"], "health": before[-1]["health"]}
    for row in rows:
        if current and (row["state"], row["health"]) == (current["state"], current["health"]):
            continue
        if current:
            bands.append(dict(current, to=row["ts"]))
        current = {"from": max(row["ts"], start), "state": row["state"], "health": row["health"]}
    if current:
        bands.append(dict(current, to=end))
    for band in bands:
        band["category"] = device_category(band["state"], band["health"])
    return bands[-5000:]
