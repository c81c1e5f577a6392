"""One process that does everything (--role all) per data folder: it takes a lock on the folder
at start, held until it exits (the kernel lets it go then, however it ends). A second one on the
same folder would store every event a second time beside the first (a store audit: 8,966 rows
for 5,155 events after 15 s), each pruning and counting roll-ups as if alone."""
import fcntl
import os

FILE_NAME = "dashboard.lock"
_held = []  # the open lock files of this process (closing one would let its lock go)


class FolderInUse(Exception):
    """Another process holds the data folder."""


def hold(data_dir):
    """Lock data_dir for this process; FolderInUse, naming the holder's pid, when another has it."""
    path = os.path.join(data_dir, FILE_NAME)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
        os.close(fd)
        raise FolderInUse(f"another dashboard process (pid {holder[:20]}) uses this data folder "
                          f"and stores its events there") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    _held.append(fd)


def release():
    """Let every folder this process holds go (at the end of its store's life: factory.shutdown;
    an app made again in the same process, as tests do, may then hold it again)."""
    while _held:
        os.close(_held.pop())
