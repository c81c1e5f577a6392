"""The registry of signed wall links: name, filter, expiry, revoked. A JSON file in the data folder
(written atomically), read by every web process on each wall connection, so that `revoke` takes
effect at a screen's next reconnect. The link's token itself is signed (web/auth.py), not stored."""
import json
import os
import time

FILE_NAME = "walls.json"
MAX_WALLS = 1000


class WallError(ValueError):
    """A wall-link command that cannot be done; the message says why."""


def _path(data_dir):
    return os.path.join(data_dir, FILE_NAME)


def load(data_dir):
    """{name: {"filter", "created", "expires", "revoked"}}; {} when there is none or it is unreadable."""
    try:
        with open(_path(data_dir), encoding="utf-8") as fh:
            walls = json.load(fh)
        return walls if isinstance(walls, dict) else {}
    except (OSError, ValueError):
        return {}


def _save(data_dir, walls):
    os.makedirs(data_dir, exist_ok=True)
    tmp = _path(data_dir) + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(walls, fh, indent=1, sort_keys=True)
    os.replace(tmp, _path(data_dir))


def add(data_dir, name, flt, expires_in, now=None):
    """Record a new wall link; returns its entry."""
    now = time.time() if now is None else now
    walls = load(data_dir)
    if name in walls and not walls[name]["revoked"] and walls[name]["expires"] > now:
        raise WallError(f"a wall link named {name!r} exists: revoke it first")
    if len(walls) >= MAX_WALLS:
        raise WallError(f"{MAX_WALLS} wall links at most: revoke some")
    walls[name] = {"filter": flt, "created": now, "expires": now + expires_in, "revoked": False}
    _save(data_dir, walls)
    return walls[name]


def revoke(data_dir, name):
    """Revoke a link: its screen stops at its next reconnect."""
    walls = load(data_dir)
    if name not in walls:
        raise WallError(f"no wall link named {name!r}")
    walls[name]["revoked"] = True
    _save(data_dir, walls)


def check(data_dir, name, created, now=None):
    """(the link's filter, None) while it is valid, else (None, why not). `created` ties a token to
    one issue of the name (a name revoked and issued again does not revive the old token)."""
    now = time.time() if now is None else now
    wall = load(data_dir).get(name)
    if wall is None or abs(wall["created"] - created) > 1e-6:
        return None, "this wall link is not known to this dashboard"
    if wall["revoked"]:
        return None, "this wall link was revoked"
    if wall["expires"] <= now:
        return None, "this wall link has expired"
    return wall["filter"], None
