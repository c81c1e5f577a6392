"""Access to the real LAVA 2023.01 captures copied from ../shared/fixtures/ (see tests/fixtures/README.md)."""
import json
import pathlib

ROOT = pathlib.Path(__file__).parent / "fixtures" / "lava-2023.01"


def captured_frames():
    """The 127 captured messages, each a list of 5 bytes frames, in arrival order."""
    with open(ROOT / "events.jsonl", encoding="utf-8") as fh:
        return [[f.encode("utf-8") for f in json.loads(line)["frames"]] for line in fh if line.strip()]


def rest(name):
    """One captured REST answer, e.g. rest('devices_all')."""
    with open(ROOT / "rest" / f"{name}.json", encoding="utf-8") as fh:
        return json.load(fh)
