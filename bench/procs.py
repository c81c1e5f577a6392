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
