"""What the benchmarks measure of a server process."""
import psutil


def cpu_with_children(pid):
    """User + system seconds of a process and of its live children: the store's writer process
    (dashboard/storage/writer.py) works for the app, and its CPU is the dashboard's too."""
    proc = psutil.Process(pid)
    total = 0.0
    for one in (proc, *proc.children(recursive=True)):
        try:
            total += sum(one.cpu_times()[:2])
        except psutil.NoSuchProcess:
            pass
    return total


def cpu_parts(pid):
    """CPU seconds so far of each part of a server: its main thread (the event loop), each other
    thread, and each live child, as {name: seconds}."""
    proc = psutil.Process(pid)
    parts = {("loop thread" if t.id == pid else f"thread {t.id}"): t.user_time + t.system_time
             for t in proc.threads()}
    for child in proc.children(recursive=True):
        try:
            name = "writer process" if "dashboard.storage.writer" in child.cmdline() else "child"
            parts[f"{name} {child.pid}"] = sum(child.cpu_times()[:2])
        except psutil.NoSuchProcess:
            pass
    return parts


def core_shares(before, after, seconds):
    """% of one core used between two cpu_parts() readings `seconds` apart: by the loop thread, by
    the other threads together (the ZMQ reader, the store's pool threads, ...), and by each child
    (parts that started in between count from 0)."""
    used = {name: (after[name] - before.get(name, 0.0)) / seconds * 100 for name in after}
    shares = {"loop thread": round(used.pop("loop thread", 0.0))}
    threads = [v for name, v in used.items() if name.startswith("thread ")]
    shares["other threads"] = round(sum(threads))
    shares["busiest other thread"] = round(max(threads, default=0.0))
    shares.update((name, round(v)) for name, v in used.items() if not name.startswith("thread "))
    return shares


def part_costs(before, after, events):
    """µs of CPU per event between two cpu_parts() readings: the loop thread, each other thread
    that used at least 1 µs an event (the ZMQ reader, the store's pool threads, ...), the writer
    process."""
    used = {name: (after[name] - before.get(name, 0.0)) / events * 1e6 for name in after}
    out = {"loop thread": round(used.pop("loop thread", 0.0), 1)}
    rest = sorted(((v, n) for n, v in used.items()), reverse=True)
    for v, name in rest:
        if v >= 1.0 or not name.startswith("thread "):
            out[name] = round(v, 1)
    out["other threads, under 1 µs each"] = round(
        sum(v for v, n in rest if v < 1.0 and n.startswith("thread ")), 1)
    return out
