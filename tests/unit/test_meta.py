"""live/meta.py: the one owner of the meta, and what its listeners are told."""
from dashboard.live.meta import Meta


def test_a_listener_gets_only_the_keys_that_changed():
    meta = Meta(simulated=False, lava_url="https://lava.example.org", epoch="e1")
    heard = []
    meta.listen(heard.append)
    changed = meta.update({"simulated": False, "lava": {"state": "ok"}, "epoch": "e1",
                           "lava_url": "https://other.example.org"})
    assert heard == [{"lava": {"state": "ok"}, "lava_url": "https://other.example.org"}]
    assert changed == heard[0]
    assert meta.as_dict() == {"simulated": False, "lava_url": "https://other.example.org",
                              "epoch": "e1", "lava": {"state": "ok"}}


def test_every_listener_is_told_and_a_falsy_new_value_counts_as_a_change():
    meta = Meta(cluster={"role": "leader"})
    first, second = [], []
    meta.listen(first.append)
    meta.listen(second.append)
    meta.update({"cluster": None})
    assert first == second == [{"cluster": None}]


def test_nothing_is_told_when_nothing_changed():
    meta = Meta(simulated=True, lava={"state": "ok"})
    heard = []
    meta.listen(heard.append)
    assert meta.update({"simulated": True, "lava": {"state": "ok"}}) == {}
    assert meta.update({}) == {}
    assert heard == []


def test_nothing_is_told_with_notify_false_but_the_value_is_kept():
    meta = Meta(epoch="e1")
    heard = []
    meta.listen(heard.append)
    assert meta.update({"epoch": "e2"}, notify=False) == {"epoch": "e2"}
    assert heard == [] and meta["epoch"] == "e2"
    meta.update({"epoch": "e3"})  # and the next update that notifies says only what it changed
    assert heard == [{"epoch": "e3"}]
