"""core.joblog: LAVA's output.yaml lines → bounded records, and where the next read starts."""
import json

import pytest

from dashboard.core import joblog

INFO = '- {"dt": "2023-01-23T10:15:42.123456", "lvl": "info", "msg": "start: 1 tftp-deploy"}'
RESULT = ('- {"dt": "2023-01-23T10:15:43.000001", "lvl": "results", '
          '"msg": {"case": "validate", "definition": "lava", "result": "pass"}}')
TARGET = '- {"dt": "2023-01-23T10:15:44.5", "lvl": "target", "msg": "Linux version 6.1 \\u00e9"}'


def test_lines_become_records_numbered_from_start():
    lines, nxt = joblog.parse("\n".join((INFO, RESULT, TARGET)) + "\n", 40)
    assert nxt == 43
    assert [line["n"] for line in lines] == [40, 41, 42]
    assert lines[0] == {"n": 40, "dt": "2023-01-23T10:15:42.123456", "lvl": "info",
                        "msg": "start: 1 tftp-deploy"}
    assert lines[1]["lvl"] == "results"
    assert json.loads(lines[1]["msg"]) == {"case": "validate", "definition": "lava", "result": "pass"}
    assert lines[2]["msg"] == "Linux version 6.1 é"


def test_a_last_line_without_its_newline_waits_for_the_next_read():
    lines, nxt = joblog.parse(INFO + "\n" + RESULT[:30], 0)
    assert nxt == 1 and len(lines) == 1


def test_one_partial_line_alone_is_taken_so_that_reading_moves_on():
    lines, nxt = joblog.parse(INFO[:50], 7)
    assert nxt == 8 and lines[0]["lvl"] == "raw" and lines[0]["msg"] == INFO[:50]


def test_nothing_is_nothing():
    assert joblog.parse("", 12) == ([], 12)


@pytest.mark.parametrize("line", [
    "plain text, not YAML",
    "- not a mapping",
    '- {"dt": "x", "lvl": "info"}',  # no msg
    '- {"dt": "x", "lvl": "info", "msg": "unterminated}',
    "- [1, 2, 3]",
    "- {" + "[" * 5000 + "]" * 5000 + "}",
])
def test_a_line_of_another_shape_is_kept_raw(line):
    [record], nxt = joblog.parse(line + "\r\n", 0)
    assert nxt == 1 and record["lvl"] == "raw" and record["dt"] is None
    assert record["msg"] == line[:joblog.MAX_CHARS - 1] + ("…" if len(line) > joblog.MAX_CHARS else "")


def test_messages_levels_and_times_are_bounded():
    huge = json.dumps({"dt": "2" * 500, "lvl": "shouting", "msg": "x" * 5000})
    [record], _ = joblog.parse("- " + huge + "\n", 0, max_chars=100)
    assert len(record["msg"]) == 100 and record["msg"].endswith("…")
    assert record["lvl"] == "raw" and len(record["dt"]) == 40


def test_no_more_lines_than_asked_for_are_taken_from_an_answer():
    """LAVA is asked for lines [start, start + fetch_lines): an answer that ignores its `end` (an
    audit: 512 KiB of empty lines, half a million dicts in one message) gives no more than that;
    the rest is asked for again, from the next line."""
    text = "\n".join(f"- line {i}" for i in range(50)) + "\n"
    lines, nxt = joblog.parse(text, 100, most=20)
    assert [line["n"] for line in lines] == list(range(100, 120)) and nxt == 120
    assert lines[-1]["msg"] == "- line 19"
    assert joblog.parse("\n" * 500_000, 0, most=500)[1] == 500
    # As many as asked for, or fewer: the same as with no bound.
    for count in (19, 20):
        piece = "\n".join(f"- line {i}" for i in range(count)) + "\n"
        assert joblog.parse(piece, 0, most=20) == joblog.parse(piece, 0)
    assert joblog.parse("- half a line", 3, most=20) == joblog.parse("- half a line", 3)
