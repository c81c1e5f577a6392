"""Filters: validation, and which objects each criterion lets through (docs/protocol.md's table)."""
import pytest

from dashboard.core.filters import FilterError, parse_filter
from dashboard.live.relay import select
from dashboard.core.state import Change

DEVICE = {"hostname": "qemu-01", "device_type": "qemu", "state": "Idle", "health": "Bad",
          "worker": "w1", "job": None}
JOB = {"id": 7, "submitter": "alice", "device_type": "qemu", "device": "qemu-01", "worker": "w1",
       "health": "Unknown", "state": "Running"}
WORKER = {"hostname": "w1", "state": "Online", "health": "Active", "devices": ["qemu-01"]}
EVENT = {"uuid": "u", "job": 7, "message": "hi", "submitter": "alice", "device": "qemu-01",
         "device_type": "qemu", "worker": "w1", "device_health": "Bad"}
OBJECTS = {"device": DEVICE, "job": JOB, "worker": WORKER, "event": EVENT}


@pytest.mark.parametrize("flt, passes", [
    ({}, {"device", "job", "worker", "event"}),
    ({"kinds": ["device", "worker"]}, {"device", "worker"}),
    ({"device_types": ["qemu"]}, {"device", "job", "worker", "event"}),
    ({"device_types": ["bbb"]}, {"worker"}),
    ({"devices": ["qemu-02"]}, {"worker"}),
    ({"workers": ["w2"]}, set()),
    ({"workers": ["w1"]}, {"device", "job", "worker", "event"}),
    ({"submitters": ["bob"]}, {"device", "worker"}),
    ({"health": ["Bad"]}, {"device", "event"}),
    ({"health": ["Bad", "Active", "Unknown"]}, {"device", "job", "worker", "event"}),
    ({"health": "Bad", "kinds": ["device"]}, {"device"}),
    ({"devices": [], "workers": None}, {"device", "job", "worker", "event"}),
])
def test_each_criterion_applies_to_the_kinds_that_carry_it(flt, passes):
    f = parse_filter(flt)
    assert {kind for kind, obj in OBJECTS.items() if f.matches(kind, obj)} == passes


@pytest.mark.parametrize("raw, fragment", [
    ("devices", "must be an object"),
    ({"colour": ["red"]}, "unknown filter"),
    ({"kinds": ["gizmo"]}, "unknown kind"),
    ({"devices": 5}, "list of strings"),
    ({"devices": [5]}, "non-empty strings"),
    ({"devices": [""]}, "non-empty strings"),
    ({"devices": ["x" * 201]}, "at most 200"),
    ({"devices": ["d"] * 1001}, "more than 1000"),
])
def test_bad_filters_are_refused_with_a_reason(raw, fragment):
    with pytest.raises(FilterError) as info:
        parse_filter(raw)
    assert fragment in str(info.value)


def test_a_health_filter_keeps_the_messages_of_matching_devices_only():
    """A message has no health: its job's device's, when it arrived, decides (issue 13)."""
    f = parse_filter({"health": ["Bad"]})
    assert f.matches("event", EVENT)
    assert not f.matches("event", dict(EVENT, device_health="Good"))
    assert not f.matches("event", dict(EVENT, device=None, device_health=None))  # no device known
    assert parse_filter({}).matches("event", dict(EVENT, device_health="Good"))


def test_equal_filters_share_a_key():
    a = parse_filter({"devices": ["b", "a"], "kinds": ["device"], "workers": []})
    b = parse_filter({"kinds": ["device"], "devices": ["a", "b", "a"]})
    assert a.key == b.key and a.key != parse_filter({}).key


def test_an_object_leaving_the_filter_is_sent_as_a_removal():
    f = parse_filter({"health": ["Bad"], "kinds": ["device"]})
    good = dict(DEVICE, health="Good")
    changes = [Change(1, "device", "qemu-01", DEVICE, None),      # enters: sent
               Change(2, "device", "qemu-01", good, DEVICE),      # leaves: removal
               Change(3, "device", "qemu-01", dict(good, state="Running"), good),  # never seen
               Change(4, "job", 7, JOB, None)]                     # other kind
    assert select(f, changes) == [
        {"seq": 1, "kind": "device", "id": "qemu-01", "data": DEVICE},
        {"seq": 2, "kind": "device", "id": "qemu-01", "data": None}]
