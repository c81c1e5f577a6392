"""The live log tail's places (live/logtail.py) with a follower behind: a log read to its end that
still owes such a follower its lines keeps its place, and counts among its address's logs, so
that one address's pages reading slowly cannot hold every place (a review: ten slow sessions of
one address held all 20, and every other viewer was answered `busy`). LAVA's log endpoint and the
relay's queues are stand-ins here: what is tested is which log keeps a place, with a clock of
rounds instead of time (the app's own, with a fake LAVA, is tests/test_job_log.py's)."""
import threading

import pytest

from dashboard.live.logtail import BEHIND, LogTail
from dashboard.sources.rest import LavaError

pytestmark = pytest.mark.unit


class Logs:
    """LAVA's log endpoint for jobs of three lines each: 404 past the end, as LAVA answers."""

    def get_text(self, path, params, max_bytes):
        start = params["start"]
        if start >= 3:
            error = LavaError("status", "not found")
            error.status = 404
            raise error
        return "".join(f"line {n}\n" for n in range(start, 3)), False


def tail_of(jobs, queued, sent, address_of):
    return LogTail(Logs(), jobs.get, lambda sid, job: True,
                   lambda sid, event, data: sent.append((sid, data)), threading.Event, poll=0,
                   max_jobs=4, max_per_client=2, follow_burst=100, client_of=address_of,
                   queued=lambda sid: queued.get(sid, 0))


def test_logs_owing_a_slow_page_count_for_its_address_and_the_others_are_served():
    jobs, queued, sent = {}, {}, []
    address = {"victim": "10.0.0.2", "victim2": "10.0.0.3"}
    tail = tail_of(jobs, queued, sent, lambda sid: address.get(sid, "10.0.0.1"))
    assert tail.max_per_key == 2
    answers = []
    for n in range(1, 5):  # one address: a fast page and a slow one for each log, in turn
        fast, slow = f"fast{n}", f"slow{n}"
        jobs[n] = {"id": n, "state": "Running"}
        answers.append((tail.follow(fast, {"job": n}), tail.follow(slow, {"job": n})))
        if not answers[-1][0]["ok"]:
            break
        queued[slow] = BEHIND + 5  # behind: it reads, slowly, and answers Engine.IO's pings
        tail.run(rounds=1)  # the lines: sent to the fast page, kept for the slow one
        jobs[n]["state"] = "Finished"
        tail.run(rounds=1)  # read to its end
        assert tail.followed[n].done and slow in tail.followed[n].held
        tail.unfollow(fast, {"job": n})
    # Two logs owe that address's slow pages their lines: a third is refused to the address...
    assert [a[0]["ok"] for a in answers] == [True, True, False], answers
    assert answers[-1][0]["code"] == "too_many"
    # ... and another viewer is served.
    jobs[9] = {"id": 9, "state": "Running"}
    assert tail.follow("victim", {"job": 9})["ok"] is True
    # A slow page that reads again gets the lines kept for it and that the log is finished; the
    # log then gives its place away when one is needed.
    queued["slow1"] = 0
    tail.run(rounds=1)
    to_slow = [data for sid, data in sent if sid == "slow1"]
    assert to_slow[-1]["finished"] is True and [line["n"] for line in to_slow[-1]["lines"]] == [0, 1, 2]
    assert not tail.followed[1].held
    for n in (10, 11):
        jobs[n] = {"id": n, "state": "Running"}
    assert tail.follow("victim", {"job": 10})["ok"] is True  # the 4th place: free
    assert tail.follow("victim2", {"job": 11})["ok"] is True  # job 1's, given away
    assert 1 not in tail.followed and 2 in tail.followed  # (2 still owes slow2 its lines)
