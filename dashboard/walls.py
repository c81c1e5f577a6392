"""Signed wall links, for screens that cannot sign in (docs/security.md).

    python -m dashboard.walls create --name lab2-east --filter 'device_type=qemu' --expires 90d \\
        --url https://dashboard.example.org
    python -m dashboard.walls list
    python -m dashboard.walls revoke lab2-east

A link grants a read-only view as an anonymous viewer, limited to its filter. It is checked at each
connection of its screen: a revoked or expired link stops at the screen's next reconnect, and the
screen says why. Run it with the same --data-dir (or DASHBOARD_DATA_DIR) and DASHBOARD_SECRET_KEY
as the dashboard, as the user it runs as. `create` refuses a folder that holds no signing key
(without DASHBOARD_SECRET_KEY): a link it signed with a new key there would never open (an audit:
run from another folder, it made ./data and a key of its own, and printed a link the dashboard
refused).
"""
import argparse
import datetime as dt
import os
import re
import sys
import time
import urllib.parse

from dashboard.storage import secrets, walls

DURATION = re.compile(r"^(\d{1,5})([smhdw])$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def duration(text):
    """'90d' → seconds (m, h, d or w)."""
    match = DURATION.match(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"expected a number and s, m, h, d or w (e.g. 90d), got {text!r}")
    return int(match.group(1)) * UNITS[match.group(2)]


def wall_name(text):
    if not NAME.match(text):
        raise argparse.ArgumentTypeError("a name of letters, digits, '.', '_' and '-' (64 at most)")
    return text


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m dashboard.walls", description=__doc__.split("\n")[0])
    data_dir = "The dashboard's --data-dir (where its key and the links live; DASHBOARD_DATA_DIR)."
    parser.add_argument("--data-dir", default=os.environ.get("DASHBOARD_DATA_DIR", "data"), help=data_dir)
    # ... before the command or after it ("create --data-dir X" was refused).
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--data-dir", default=argparse.SUPPRESS, help=data_dir)
    sub = parser.add_subparsers(dest="command", required=True)
    create = sub.add_parser("create", parents=[common], help="Make a link and print its URL.")
    create.add_argument("--name", required=True, type=wall_name, help="The screen's name.")
    create.add_argument("--filter", default="", help="What the screen shows, as the page's URL "
                        "parameters: 'device_type=qemu&health=Bad' (device_type, worker, device, "
                        "health, kind, lab). Empty: the whole lab.")
    create.add_argument("--expires", type=duration, default=duration("90d"),
                        help="How long the link works: 30m, 12h, 90d, 8w (default 90d).")
    create.add_argument("--url", default="http://127.0.0.1:5000",
                        help="The dashboard's address as the screen reaches it.")
    sub.add_parser("list", parents=[common], help="The links, with their state.")
    revoke = sub.add_parser("revoke", parents=[common], help="Stop a link (at its screen's next reconnect).")
    revoke.add_argument("name", type=wall_name)
    return parser.parse_args(argv)


def _has_key(data_dir):
    """Whether `data_dir` holds a signing key (the dashboard makes one at its first start)."""
    return os.path.isfile(os.path.join(data_dir, secrets.FILE_NAME))


def _not_the_dashboards(data_dir):
    """What to add when `data_dir` holds no signing key: likely not the dashboard's folder."""
    if _has_key(data_dir):
        return ""
    return " (no signing key there either: is it the dashboard's --data-dir?)"


def main(argv=None, out=sys.stdout):
    """Run one command; returns the exit status."""
    from dashboard.core.events import DEVICE_HEALTHS, JOB_HEALTHS, WORKER_HEALTHS
    from dashboard.web.auth import Access, filter_from_wall

    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        if args.command == "create":
            flt = filter_from_wall(args.filter)
            if "submitters" in flt:
                raise walls.WallError("a wall link cannot filter by submitter: it is an anonymous "
                                      "view, and submitters of private jobs are not shown to it")
            # A health LAVA never gives, or an address no browser opens, made a link that shows
            # nothing for ever, or none at all (an audit).
            # (A wall's health filter is of devices, jobs and workers alike: core/filters.py.)
            healths = list(dict.fromkeys((*DEVICE_HEALTHS, *JOB_HEALTHS, *WORKER_HEALTHS)))
            unknown = sorted(set(flt.get("health", ())) - set(healths))
            if unknown:
                raise walls.WallError(f"health {unknown[0][:40]!r} is not one of LAVA's: "
                                      f"{', '.join(healths)}")
            base = urllib.parse.urlsplit(args.url)
            if base.scheme not in ("http", "https") or not base.netloc:
                raise walls.WallError(f"--url {args.url[:80]!r} is not an http:// or https:// "
                                      f"address")
            configured = os.environ.get("DASHBOARD_SECRET_KEY", "")
            if not configured and not _has_key(args.data_dir):
                raise walls.WallError(
                    f"no signing key in {os.path.abspath(args.data_dir)[:200]}: give the "
                    f"dashboard's own --data-dir (it makes its key at its first start), or the "
                    f"DASHBOARD_SECRET_KEY it runs with; a link signed with another key would "
                    f"never open")
            key = secrets.load_or_create(args.data_dir, configured)  # (first: a key it cannot
            entry = walls.add(args.data_dir, args.name, flt, args.expires)  # read records no link)
            signer = Access("lava", None, None, None, key, args.data_dir)
            token = signer.wall_token(args.name, entry["created"])
            url = args.url.rstrip("/") + "/?" + urllib.parse.urlencode({"link": token})
            expires = dt.datetime.fromtimestamp(entry["expires"], dt.timezone.utc)
            print(f"{url}\n(wall link {args.name}: {args.filter or 'the whole lab'}; "
                  f"expires {expires:%Y-%m-%d %H:%M} UTC)", file=out)
        elif args.command == "list":
            now = time.time()
            found = walls.load(args.data_dir)
            if not found:  # (an empty answer in the wrong folder said nothing of it: a review)
                print(f"no wall links in {os.path.abspath(args.data_dir)[:200]}"
                      f"{_not_the_dashboards(args.data_dir)}", file=sys.stderr)
            for name, wall in sorted(found.items()):
                state = "revoked" if wall["revoked"] else "expired" if wall["expires"] <= now else "active"
                expires = dt.datetime.fromtimestamp(wall["expires"], dt.timezone.utc)
                print(f"{name}\t{state}\texpires {expires:%Y-%m-%d %H:%M} UTC\t"
                      f"{urllib.parse.urlencode(wall['filter'], doseq=True) or 'the whole lab'}",
                      file=out)
        else:
            try:
                walls.revoke(args.data_dir, args.name)
            except walls.WallError as err:
                raise walls.WallError(f"{err} in {os.path.abspath(args.data_dir)[:200]}"
                                      f"{_not_the_dashboards(args.data_dir)}") from None
            print(f"revoked {args.name}: its screen stops at its next reconnect", file=out)
    except (walls.WallError, ValueError) as err:
        print(f"python -m dashboard.walls: error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
