"""Who may see what (core.visibility), sessions and the sign-in limit: pure, table-driven."""
import pytest

from dashboard.core.filters import parse_filter
from dashboard.core.visibility import (ANONYMOUS, EVERYONE, PRIVATE, PUBLIC, Viewer, Viewing,
                                       Visibility, may_see_job, redact_job, view_object, view_row)
from dashboard.web.auth import FailureLimit, filter_from_wall
from dashboard.web.sessions import Sessions

ALICE, BOB, WALL = Viewer(username="alice"), Viewer(username="bob"), Viewer(wall="lobby")
JOB = {"id": 7, "state": "Running", "health": "Unknown", "device": "qemu-01", "device_type": "qemu",
       "worker": "w1", "submitter": "alice", "description": "secret", "priority": 50,
       "submit_time": "t0", "start_time": "t1", "end_time": None, "updated": "t1"}


def table(answers):
    visibility = Visibility()
    for (user, job_id), visible in answers.items():
        visibility.learn(user, job_id, visible)
    return visibility


@pytest.mark.parametrize("viewer, job, answers, expected", [
    (EVERYONE, JOB, {}, True),  # open access
    (ANONYMOUS, JOB, {}, False),  # unknown: default deny
    (ANONYMOUS, dict(JOB, visibility=PUBLIC), {}, True),
    (ANONYMOUS, dict(JOB, visibility=PRIVATE), {}, False),
    (ANONYMOUS, JOB, {("", 7): True}, True),  # LAVA said public (a job the model forgot)
    (ALICE, dict(JOB, visibility=PRIVATE), {("alice", 7): True}, True),
    (BOB, dict(JOB, visibility=PRIVATE), {("alice", 7): True}, False),  # alice's answer is hers
    (BOB, dict(JOB, visibility=PRIVATE), {("bob", 7): False}, False),
    (WALL, dict(JOB, visibility=PRIVATE), {}, False),  # a wall is anonymous
    (WALL, dict(JOB, visibility=PUBLIC), {}, True),
])
def test_may_see_job(viewer, job, answers, expected):
    assert may_see_job(viewer, job, table(answers)) is expected


def test_a_redacted_job_keeps_what_a_device_page_shows():
    shown = redact_job(dict(JOB, visibility=PRIVATE))
    assert shown == {"id": 7, "state": "Running", "health": "Unknown", "device": "qemu-01",
                     "device_type": "qemu", "worker": "w1", "submit_time": "t0", "start_time": "t1",
                     "end_time": None, "updated": "t1", "visibility": PRIVATE, "hidden": True}


def test_feed_entries_of_a_hidden_job_are_not_shown():
    jobs = {7: dict(JOB, visibility=PRIVATE), 8: dict(JOB, id=8, visibility=PUBLIC)}
    entry = {"uuid": "u", "job": 7, "message": "secret shell"}
    assert view_object(ANONYMOUS, "event", entry, jobs, Visibility()) is None
    assert view_object(ANONYMOUS, "event", dict(entry, job=8), jobs, Visibility())["message"]
    assert view_object(ANONYMOUS, "event", dict(entry, job=None), jobs, Visibility()) is not None
    assert view_object(ANONYMOUS, "device", {"hostname": "d", "job": 7}, jobs, Visibility())["job"] == 7


def test_stored_rows_of_a_hidden_job():
    jobs = {7: dict(JOB, visibility=PRIVATE)}
    state_row = {"id": 1, "kind": "testjob", "job": 7, "submitter": "alice", "username": "alice",
                 "data": {"description": "secret"}, "frames": ["..secret.."], "state": "Running"}
    shown = view_row(ANONYMOUS, state_row, jobs, Visibility())
    assert shown["state"] == "Running" and shown["hidden"] is True
    assert "secret" not in str(shown) and "alice" not in str(shown)
    assert view_row(ANONYMOUS, dict(state_row, kind="event"), jobs, Visibility()) is None
    device_row = dict(state_row, kind="device", submitter=None, data={"device": "d", "job": 7})
    assert view_row(ANONYMOUS, device_row, jobs, Visibility()) is device_row
    view = Viewing(ANONYMOUS, jobs, Visibility())
    assert view.rows([state_row]) and view.rows([state_row], by_submitter=True) == []


@pytest.mark.parametrize("fields, told", [
    ({"description": ["a", "b"]}, False),  # hidden fields alone: not even that it happened
    ({"description": ["a", "b"], "submitter": ["x", "y"], "priority": [1, 2]}, False),
    ({"description": ["a", "b"], "state": ["Running", "Finished"]}, True),  # shown redacted
    ({"exists": [True, False]}, True),
    ({}, True),
])
def test_a_correction_of_a_hidden_job_is_told_only_when_it_changed_what_is_shown(fields, told):
    jobs = {7: dict(JOB, visibility=PRIVATE)}
    row = {"id": 2, "kind": "correction", "job": 7, "submitter": "alice", "username": None,
           "state": "Running", "frames": [], "data": {"object": "job", "id": 7, "fields": fields,
                                                      "message": "corrected job 7 description"}}
    shown = view_row(ANONYMOUS, row, jobs, Visibility())
    assert (shown is not None) is told
    if told:
        assert shown["hidden"] is True and "alice" not in str(shown) and "description" not in str(shown)
    assert view_row(ANONYMOUS, row, {7: dict(JOB, visibility=PUBLIC)}, Visibility()) is row
    # A device's correction that names the job is a device's: it says no more than a device page.
    device_row = dict(row, data=dict(row["data"], object="device"))
    assert view_row(ANONYMOUS, device_row, jobs, Visibility()) is not None


def test_a_snapshot_as_a_wall_sees_it_limited_to_its_filter():
    snapshot = {"seq": 3, "devices": [{"hostname": "a", "device_type": "qemu"},
                                      {"hostname": "b", "device_type": "bbb"}],
                "jobs": [dict(JOB, visibility=PRIVATE)], "workers": [], "events": []}
    view = Viewing(WALL, {7: snapshot["jobs"][0]}, Visibility(), parse_filter({"device_types": ["qemu"]}))
    shown = view.snapshot(snapshot)
    assert [d["hostname"] for d in shown["devices"]] == ["a"]
    assert shown["jobs"][0]["hidden"] is True and "description" not in shown["jobs"][0]


def test_answers_are_bounded_and_forgotten_with_their_viewer():
    visibility = Visibility(size=3)
    for job_id in range(5):
        visibility.learn("alice", job_id, True)
    assert len(visibility) == 3 and visibility.known("alice", 0) is None
    visibility.learn("bob", 9, True)
    visibility.forget_user("alice")
    assert len(visibility) == 1 and visibility.known("bob", 9) is True
    # Anonymous answers and viewers' are kept apart; the oldest of all goes first.
    clock = Clock()
    mixed = Visibility(size=3, clock=clock)
    for who, job_id in (("", 1), ("alice", 1), ("", 2), ("alice", 2)):
        mixed.learn(who, job_id, True)
        clock.now += 1
    assert len(mixed) == 3 and mixed.known("", 1) is None and mixed.known("alice", 1) is True


class Clock:
    now = 1000.0

    def __call__(self):
        return self.now


def test_sessions_end_when_idle_or_too_old_and_keep_no_token_in_repr():
    clock = Clock()
    sessions = Sessions(idle=60, lifetime=300, clock=clock)
    sid = sessions.create("alice", "tok-secret")
    assert "tok-secret" not in repr(sessions.get(sid))
    clock.now += 59
    assert sessions.get(sid).username == "alice" and sessions.token_of("alice") == "tok-secret"
    clock.now += 61  # idle for 61 s
    assert sessions.get(sid) is None and sessions.token_of("alice") is None
    sid = sessions.create("alice", "tok-secret")
    for _ in range(6):  # used every 50 s (never idle for 60 s) up to its 300 s...
        clock.now += 50
        assert sessions.get(sid) is not None
    clock.now += 50  # ...and not beyond: only the absolute lifetime can end it here
    assert sessions.get(sid) is None and sessions.token_of("alice") is None
    assert sessions.end("nonsense") is None and sessions.get(None) is None


def test_failed_sign_ins_are_limited_per_key_for_a_window():
    clock = Clock()
    limit = FailureLimit(limit=3, window=100, clock=clock)
    for _ in range(3):
        assert limit.blocked("addr:1") == 0
        limit.fail("addr:1")
    assert limit.blocked("addr:1") > 0 and limit.blocked("addr:2") == 0
    clock.now += 101
    assert limit.blocked("addr:1") == 0


def test_wall_filters():
    assert filter_from_wall("device_type=qemu&health=Bad&device_type=bbb") == {
        "device_types": ["qemu", "bbb"], "health": ["Bad"]}
    with pytest.raises(ValueError):
        filter_from_wall("nonsense=1")


def test_a_wall_link_shows_only_alerts_about_what_its_filter_matches():
    devices = {"qemu-01": {"hostname": "qemu-01", "device_type": "qemu", "health": "Bad"},
               "bbb-01": {"hostname": "bbb-01", "device_type": "bbb", "health": "Bad"}}
    wall = Viewing(Viewer(wall="lobby"), {}, Visibility(), parse_filter({"device_types": ["qemu"]}))
    alert = lambda kind, subject, dtype: {"subject_kind": kind, "subject": subject,  # noqa: E731
                                          "device_type": dtype}
    assert wall.alert_in_limit(alert("device", "qemu-01", "qemu"), devices)
    assert not wall.alert_in_limit(alert("device", "bbb-01", "bbb"), devices)
    assert not wall.alert_in_limit(alert("device", "gone-01", "qemu"), devices)  # not in the model
    assert wall.alert_in_limit(alert("device_type", "qemu", "qemu"), devices)
    assert not wall.alert_in_limit(alert("device_type", "bbb", "bbb"), devices)
    assert not wall.alert_in_limit(alert("worker", "w1", None), devices)
    assert not wall.alert_in_limit(alert("lab", "lab", None), devices)
    everyone = Viewing(ANONYMOUS, {}, Visibility())
    assert everyone.alert_in_limit(alert("lab", "lab", None), devices)
    # Several labs: a wall of one lab's qemu boards shows that lab's alert about its qemu queue,
    # not another lab's.
    east = {("east", "qemu-01"): dict(devices["qemu-01"], lab="east")}
    for flt in ({"labs": ["east"], "device_types": ["qemu"]}, {"labs": ["east"]}):
        wall = Viewing(Viewer(wall="lobby"), {}, Visibility(), parse_filter(flt))
        assert wall.alert_in_limit(dict(alert("device_type", "qemu", "qemu"), lab="east"), east)
        assert not wall.alert_in_limit(dict(alert("device_type", "qemu", "qemu"), lab="west"), east)
        assert wall.alert_in_limit(dict(alert("device", "qemu-01", "qemu"), lab="east"), east)


def test_an_alerts_jobs_are_job_ids_and_shown_only_where_visible():
    """public_alert keeps only real job ids (core.events.job_id: not True, -1, "7" or beyond
    MAX_JOB_ID), and counts the ones this viewer may not see instead of naming them."""
    from dashboard.core.events import MAX_JOB_ID
    from dashboard.web.alerts import public_alert
    alert = {"id": 1, "fired_at": 0, "jobs": [7, 8, True, -1, "7", MAX_JOB_ID + 1, 7.0]}
    view = Viewing(ANONYMOUS, {7: dict(JOB, visibility=PUBLIC), 8: dict(JOB, id=8)}, Visibility())
    shown = public_alert(alert, view)
    assert shown["jobs"] == [7] and shown["hidden_jobs"] == 1
    assert public_alert(alert, Viewing(EVERYONE, {}, Visibility()))["jobs"] == [7, 8]


def test_an_answer_of_lavas_holds_for_max_age_then_counts_as_never_given():
    """LAVA's answer can change (a job made private, a viewer out of a viewing group): an answer
    older than max_age is no answer, and default deny applies again."""
    clock = Clock()
    visibility = Visibility(max_age=600, clock=clock)
    visibility.learn("", 7, True)
    visibility.learn("alice", 8, True)
    old_job = {"id": 7}  # a job the model no longer holds: only the table's answer says public
    assert may_see_job(ANONYMOUS, old_job, visibility) and may_see_job(ALICE, {"id": 8}, visibility)
    clock.now += 600
    assert visibility.known("", 7) is True and visibility.age("", 7) == 600
    clock.now += 1
    assert visibility.known("", 7) is None and visibility.known("alice", 8) is None
    assert not may_see_job(ANONYMOUS, old_job, visibility)
    assert not may_see_job(ALICE, {"id": 8}, visibility)
    visibility.learn("alice", 8, True)  # asked again
    assert may_see_job(ALICE, {"id": 8}, visibility) and visibility.age("alice", 8) == 0


def test_older_than_gives_the_oldest_answers_of_the_viewers_kept_first_and_at_most_limit():
    clock = Clock()
    visibility = Visibility(clock=clock)
    for i in range(5):
        visibility.learn("", i, True)  # anonymous answers: not a viewer's to ask again
        visibility.learn("alice", i, True)
        visibility.learn("gone", i, True)
        clock.now += 100
    asked = set()

    def keep(username, visible):
        asked.add(username)
        return username == "alice"

    assert visibility.older_than(250, 10, keep) == [("alice", 0), ("alice", 1), ("alice", 2)]
    assert asked == {"alice", "gone"}  # the anonymous answers are not even walked
    assert visibility.older_than(250, 2, keep) == [("alice", 0), ("alice", 1)]
    assert visibility.older_than(10_000, 10, keep) == []
    visibility.learn("alice", 0, False)  # answered again: the newest now
    assert visibility.older_than(250, 10, keep) == [("alice", 1), ("alice", 2)]


def _bob_in_staff(make_event):
    """A fake LAVA whose first job only group staff sees, bob in it, and ViewerVisibility asking it
    with bob's token: (lava, job, clock, visibility, pages made anew, viewers)."""
    from dashboard.live.access import ViewerVisibility
    from dashboard.sources.rest import LavaRest
    from tests.fake_lava import FakeLava

    lava = FakeLava(token="tok-dashboard")
    job = lava.jobs[0]["id"]
    lava.private[job] = ("staff",)
    lava.users["tok-bob"] = ("bob", ["staff"])
    clock = Clock()
    visibility = Visibility(clock=clock)
    refreshed = []
    viewers = ViewerVisibility(lambda token, lab: LavaRest(lava.url, token), visibility,
                               {"bob": "tok-bob"}.get,
                               lambda username, less: refreshed.append(username if not less
                                                                        else (username, "less")),
                               lambda s: None, make_event, clock=clock)
    return lava, job, clock, visibility, refreshed, viewers


def test_a_signed_in_viewers_answers_are_asked_again_and_a_withdrawn_right_hides_the_job():
    """The viewer's own token asks LAVA again once an answer is REFRESH_AFTER old: taken out of
    the job's viewing group, they no longer see it, and their page is made anew. Real parts: the
    fake LAVA over HTTP, LavaRest, ViewerVisibility."""
    import threading

    from dashboard.core.visibility import MAX_AGE, REFRESH_AFTER
    from dashboard.sources.rest import LavaRest

    lava, job, clock, visibility, refreshed, viewers = _bob_in_staff(threading.Event)
    closed = False
    try:
        viewers.want("bob", [job])
        viewers.run(rounds=1)
        assert visibility.known("bob", job) is True and refreshed == ["bob"]
        viewers.want("bob", [job])  # answered lately: not asked again
        assert len(viewers.queue) == 0 and not viewers._ask_again() and viewers.asked == 1
        lava.users["tok-bob"] = ("bob", [])  # out of the group
        clock.now += REFRESH_AFTER + 1
        viewers.run(rounds=1)  # nothing queued: the old answer is asked again
        assert viewers.asked == 2 and visibility.known("bob", job) is False
        assert refreshed == ["bob", ("bob", "less")]  # the page made anew: the job now hidden
        clock.now += REFRESH_AFTER + 1
        # A "may not see" is not asked again: once it lapses the job stays hidden all the same.
        assert not viewers._ask_again() and viewers.asked == 2
        # Back in the group, LAVA away: asking again fails, and stops for a while (no request a
        # second for as long as LAVA is away); what a viewer wants now is still asked at once.
        lava.users["tok-bob"] = ("bob", ["staff"])
        clock.now += MAX_AGE
        viewers.want("bob", [job])  # lapsed: asked at once
        viewers.run(rounds=1)
        assert visibility.known("bob", job) is True and viewers.asked == 3
        clock.now += REFRESH_AFTER + 1
        url = lava.url
        lava.close()
        closed = True
        viewers.rest_for_token = lambda token, lab: LavaRest(url, token, timeout=2)
        viewers.run(rounds=1)  # asked again: LAVA does not answer
        assert viewers.errors == 1 and not viewers._ask_again()  # held back now
        clock.now += REFRESH_AFTER + 1
        assert viewers._ask_again() and viewers.stats()["asking_again"] == 1  # and later again
    finally:
        if not closed:
            lava.close()


def test_a_may_see_that_lapsed_makes_the_page_anew_and_so_does_a_no_after_it():
    """Found by an audit: a "may see" that lapsed (LAVA could not be asked again in time) hid the
    job from new requests, but no page that had it was made anew; and a "no" after the lapse was
    compared with the lapsed answer (unknown, so "no" too), and made none anew either."""
    import threading

    from dashboard.core.visibility import MAX_AGE

    class NoWait(threading.Event):
        def wait(self, timeout=None):
            return False

    lava, job, clock, visibility, refreshed, viewers = _bob_in_staff(NoWait)
    other = lava.jobs[1]["id"]
    try:
        viewers.want("bob", [job])
        viewers.run(rounds=1)
        assert visibility.known("bob", job) is True and refreshed == ["bob"]  # sees more
        viewers._again_after = clock.now + 10 * MAX_AGE  # LAVA away: nothing asked again
        clock.now += MAX_AGE + 1
        # Something else is asked meanwhile (a review: the lapse was looked for only when nothing
        # was): the lapsed "may see" goes first, and bob's pages are made anew, seeing less.
        viewers.want("bob", [other])
        viewers.run(rounds=1)
        assert refreshed[:2] == ["bob", ("bob", "less")] and visibility.last("bob", job) is None
        assert viewers.stats()["lapsed"] == 1 and refreshed[2:] == ["bob"]  # (the other job: more)
        viewers._check_lapses()
        assert len(refreshed) == 3  # once
        # Asked again (bob looks at it): LAVA answers "may see", then, the answer lapsed but
        # the lapse not looked for yet, "no": compared with the lapsed "may see", he sees less.
        viewers.want("bob", [job])
        viewers.run(rounds=1)
        assert refreshed[-1] == "bob" and len(refreshed) == 4
        lava.users["tok-bob"] = ("bob", [])
        clock.now += MAX_AGE + 1
        viewers._lapse_at = clock.now + 60
        viewers.want("bob", [job])
        viewers.run(rounds=1)
        assert visibility.known("bob", job) is False and refreshed[-1] == ("bob", "less")
    finally:
        lava.close()


def test_a_may_see_pushed_out_by_the_bound_makes_its_viewers_pages_anew():
    """Found by a review: the table's bound pushed out a "may see" with nothing said, and the
    viewer's pages kept the job in full (as before a lapse was looked for)."""
    import threading

    from dashboard.live.access import ViewerVisibility

    clock = Clock()
    visibility = Visibility(size=3, clock=clock)
    for who, job, visible in (("alice", 1, True), ("", 2, True), ("bob", 3, False), ("carol", 4, True),
                              ("", 5, True)):
        visibility.learn(who, job, visible)
        clock.now += 1
    # The two oldest went: alice's "may see", then the anonymous one (older than bob's "no")
    assert visibility.last("alice", 1) is None and visibility.last("", 2) is None
    assert visibility.last("bob", 3) is False and visibility.evicted == {"alice"}
    refreshed = []
    viewers = ViewerVisibility(None, visibility, {}.get, lambda who, less: refreshed.append((who, less)),
                               lambda s: None, threading.Event, clock=clock)
    viewers._check_lapses()
    assert refreshed == [("alice", True)] and visibility.take_evicted() == set()


def test_token_checks_that_fail_together_count_as_one_failure_of_lavas():
    """Right after a restart every wall and API client asks at once: one blip of LAVA's seen by
    all of them waits LAVA_RETRY_FIRST, not five steps of the back-off; a question asked after
    the wait that fails again doubles it."""
    from dashboard.web.auth import LAVA_RETRY_FIRST, LavaOutage

    clock = Clock()
    outage = LavaOutage(clock)
    assert outage.wait("") == 0
    for _ in range(5):
        outage.asking("")
    for _ in range(5):
        outage.failed("")
        outage.done("")
    first = outage.wait("")
    assert 1 <= first <= 2 * LAVA_RETRY_FIRST  # one step (Backoff may add jitter), not five
    clock.now += first + 0.01
    assert outage.wait("") == 0
    outage.asking("")
    assert outage.wait("east") == 0 and outage.wait("") >= 1  # one question at a time, per lab
    outage.failed("")
    outage.done("")
    assert outage.wait("") > first  # the second step: longer (4-5 s against 2-3 s)
    clock.now += 100
    outage.asking("")
    outage.answered("")
    outage.done("")
    assert outage.wait("") == 0 and outage.failing() == []


def test_one_viewer_cannot_crowd_out_the_others_questions_to_lava():
    """A viewer asking about many jobs (a request each) has at most MAX_PER_VIEWER questions
    queued; another viewer's question still gets in, and the count goes as questions are taken."""
    import threading

    from dashboard.live.access import MAX_PER_VIEWER, ViewerVisibility

    viewers = ViewerVisibility(None, Visibility(), {"bob": None}.get, lambda user: None,
                               lambda s: None, threading.Event)
    viewers.want("alice", range(MAX_PER_VIEWER + 500))
    viewers.want("bob", [7])
    stats = viewers.stats()
    assert stats["queued"] == MAX_PER_VIEWER + 1 and stats["capped"] == 500
    viewers.run(rounds=MAX_PER_VIEWER)  # alice's, taken (she has no session: not asked)
    assert len(viewers.queue) == 1 and dict(viewers._queued_by) == {"bob": 1}
    viewers.want("alice", [5000])  # room for her again
    assert len(viewers.queue) == 2 and viewers._queued_by["alice"] == 1


class Reversed:
    """A model's jobs table that counts how many jobs a walk from the newest reads."""

    def __init__(self, jobs):
        self.jobs, self.read = jobs, 0

    def __reversed__(self):
        for job in reversed(self.jobs):
            self.read += 1
            yield job


def _jobs(n, seed=3):
    import random
    rng = random.Random(seed)
    return [{"id": i, **({"visibility": rng.choice((PUBLIC, PRIVATE, PRIVATE))} if i % 7 else {}),
             **({"lab": "east"} if rng.random() < 0.3 else {})} for i in range(1, n + 1)]


@pytest.mark.parametrize("lab, most, answered", [("", 200, set()), ("east", 200, set()),
                                                 ("", 5, set(range(0, 3000, 2))), ("east", 50, {1, 2})])
def test_the_newest_jobs_to_ask_about_are_what_a_walk_of_every_job_chose(lab, most, answered):
    """newest_to_ask picks what the whole walk picked before (the last `most` of the lab's
    unanswered non-public jobs, oldest first), keyed by job_key."""
    from dashboard.core.visibility import job_key, newest_to_ask
    jobs = _jobs(3000)
    unanswered = lambda key: (key[1] if isinstance(key, tuple) else key) not in answered  # noqa: E731
    whole = [job_key(j) for j in jobs if j.get("visibility") != PUBLIC and (j.get("lab") or "") == lab
             and unanswered(job_key(j))][-most:]
    assert len(whole) == most
    assert newest_to_ask(jobs, lab, unanswered, most=most) == whole
    if not answered:
        assert newest_to_ask(jobs, lab, most=most) == whole


def test_the_walk_stops_at_the_newest_it_needs_and_reads_all_only_when_it_must():
    from dashboard.core.visibility import ASK_AT_ONCE, newest_to_ask
    jobs = Reversed([{"id": i, "visibility": PRIVATE} for i in range(40_000)])
    assert newest_to_ask(jobs, "") == list(range(40_000 - ASK_AT_ONCE, 40_000))
    assert jobs.read == ASK_AT_ONCE  # not the 40,000
    few = Reversed([{"id": i, "visibility": PUBLIC if i != 5 else PRIVATE} for i in range(1000)])
    assert newest_to_ask(few, "") == [5] and few.read == 1000
    gone = Reversed([None, {"id": 1}, {"id": 2, "lab": "west"}])  # a batch's removed job: None
    assert newest_to_ask(gone, "") == [1] and newest_to_ask(gone, "west") == [("west", 2)]


def test_one_labs_jobs_alone_are_walked_when_the_model_holds_several():
    from dashboard.core.labset import LabSet
    from dashboard.core.state import LabState, Sequence
    from dashboard.core.visibility import jobs_of_lab, newest_to_ask
    sequence = Sequence()
    labset = LabSet([LabState(name="east", sequence=sequence), LabState(name="west", sequence=sequence)])
    for name, ids in (("east", (1, 2, 3)), ("west", (2, 3, 4))):
        for i in ids:
            labset.labs[name].jobs[i] = {"id": i, "lab": name}
    assert [j["id"] for j in jobs_of_lab(labset.jobs, "west")] == [2, 3, 4]
    assert newest_to_ask(jobs_of_lab(labset.jobs, "east"), "east", most=2) == [("east", 2), ("east", 3)]
    assert list(jobs_of_lab(labset.jobs, "north")) == [] and list(jobs_of_lab(labset.jobs, "")) == []
    single = LabState()
    single.jobs[9] = {"id": 9}
    assert newest_to_ask(jobs_of_lab(single.jobs, ""), "") == [9]
