"""What the benchmarks measure of a server process."""
import pathlib
import subprocess

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
    loop = used.pop("loop thread", 0.0)
    shares = {"loop thread": round(loop)}
    threads = [v for name, v in used.items() if name.startswith("thread ")]
    shares["other threads"] = round(sum(threads))
    shares["busiest other thread"] = round(max(threads, default=0.0))
    # The app's threads share one interpreter lock: near 100 together, the app is bound by it,
    # whatever the loop thread's own share (docs/performance.md, "The store ratio in seven
    # rounds, and what bounds the arm without the store").
    shares["app threads together"] = round(loop + sum(threads))
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


def py_spy(pid, seconds, raw_path):
    """py-spy sampling process `pid` for `seconds` (its running threads, at 200 Hz), its collapsed
    stacks (`--format raw`) into raw_path; the Popen."""
    return subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--format", "raw",
                             "--nonblocking", "--rate", "200", "--duration", str(int(seconds)),
                             "--output", str(raw_path)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def profile_summary(raw_path, out_path, top=40, what="the app's threads"):
    """py-spy's collapsed stacks (`--format raw`) → the functions by samples inclusive and by self."""
    total, inclusive, own = 0, {}, {}
    for line in pathlib.Path(raw_path).read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        for name in set(f.rsplit(":", 1)[0] if ":" in f else f for f in frames[1:]):
            inclusive[name] = inclusive.get(name, 0) + n
        leaf = frames[-1].rsplit(":", 1)[0]
        own[leaf] = own.get(leaf, 0) + n
    lines = [f"{total} samples of {what} while busy (py-spy, --nonblocking)", ""]
    for title, table in (("by cumulative (the function or what it called)", inclusive),
                         ("by self (tottime)", own)):
        lines.append(f"== top {top} {title}: % of samples")
        for name, n in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            lines.append(f"{100 * n / max(1, total):6.1f}%  {name}")
        lines.append("")
    pathlib.Path(out_path).write_text("\n".join(lines))
