"""The key that signs session cookies and wall links: from the environment, or a file in the data
folder created on first start, readable by its owner only. Never logged, never sent anywhere."""
import os
import secrets

FILE_NAME = "secret_key"


def load_or_create(data_dir, configured=""):
    """The signing key: `configured` (DASHBOARD_SECRET_KEY) when given, else the key file in
    data_dir, made (mode 0600) if there is none yet."""
    if configured:
        return configured
    path = os.path.join(data_dir, FILE_NAME)
    try:
        with open(path, encoding="ascii") as fh:
            key = fh.read().strip()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    os.makedirs(data_dir, exist_ok=True)
    key = secrets.token_urlsafe(48)
    # O_EXCL: two processes starting together do not both write; the loser reads the winner's key.
    try:
        fd = os.open(path + ".new", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(path + ".new", encoding="ascii") as fh:
            return fh.read().strip() or key
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(key + "\n")
    os.replace(path + ".new", path)
    return key
