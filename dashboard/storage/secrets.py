"""The key that signs session cookies and wall links: from the environment, or a file in the data
folder created on first start, readable by its owner only. Never logged, never sent anywhere."""
import os
import secrets
import tempfile
import time

FILE_NAME = "secret_key"
MIN_LENGTH = 32
READ_TRIES = 50  # another process's key file being written: read it again, READ_PAUSE apart
READ_PAUSE = 0.05


class KeyFileError(ValueError):
    """The key file exists but holds no usable key."""


def _read(path):
    """The key in this file, '' when it holds none (yet), None when there is no file."""
    try:
        with open(path, encoding="ascii") as fh:
            key = fh.read().strip()
    except FileNotFoundError:
        return None
    return key if len(key) >= MIN_LENGTH else ""


def load_or_create(data_dir, configured=""):
    """The signing key: `configured` (DASHBOARD_SECRET_KEY) when given, else the key file in
    data_dir, made (mode 0600) if there is none yet. Processes starting together all get the
    same key: the one that ends up in the file."""
    if configured:
        return configured
    path = os.path.join(data_dir, FILE_NAME)
    key = _read(path)
    if key:
        return key
    if key is None:
        os.makedirs(data_dir, exist_ok=True)
        key = secrets.token_urlsafe(48)
        if _place(data_dir, path, key):
            return key
    # Another process made the file first (or is writing it): its key, once it is all there.
    for _ in range(READ_TRIES):
        key = _read(path)
        if key:
            return key
        time.sleep(READ_PAUSE)
    raise KeyFileError(f"{path} holds no key (fewer than {MIN_LENGTH} characters): remove it, "
                       "and a new one is made at the next start")


def _place(data_dir, path, key):
    """Put `key` in the key file unless it exists; False when another process's is there."""
    # Written whole to a file of its own (mkstemp: mode 0600), then linked to the final name: the
    # link fails when the file exists, and the final name never shows a partial key.
    fd, temporary = tempfile.mkstemp(prefix=FILE_NAME + ".", dir=data_dir)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write(key + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        try:
            os.link(temporary, path)
            return True
        except FileExistsError:
            return False
        except OSError:  # a file system without hard links: create the final name exclusively
            pass
    finally:
        os.unlink(temporary)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="ascii") as fh:  # a reader meanwhile sees '': it reads again
        fh.write(key + "\n")
    return True
