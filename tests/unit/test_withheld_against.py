"""core.withheld.Withheld.against: the last reading of what is withheld, taken as of the boards
the model shows now (web/withheld.py answers with it while another request reads the store
again)."""
from dashboard.core.withheld import Withheld


def test_a_board_the_model_no_longer_holds_is_withheld_at_once_with_its_jobs_rows():
    last = Withheld(frozenset({"a", "b", "c"}), {"qemu", "x86"}, ["a", "b", "c", "old"],
                    ["qemu", "x86", "gone"], jobs=[7])
    assert not last.row("b", "x86", 8) and not last.row(None, "x86", 8)
    now = last.against(frozenset({"a", "c"}), frozenset({"qemu"}))  # LAVA hid b, the one x86
    assert now.device("b") and now.row("b", "x86", 8) and now.row("b", None)
    assert now.row(None, "x86") and now.device_type("x86")  # its type: no board shown has it
    # Which jobs ran on b is not read yet: every job's row with no board goes meanwhile
    assert now.row(None, "qemu", 8) and now.row(None, None, 9) and now.jobs_cut
    assert not now.row("a", "qemu") and not now.row(None, None) and not now.row(None, "qemu")
    assert set(now.names) == {"b", "old"} and set(now.types) == {"x86", "gone"}
    assert now.row("a", "qemu", 7)  # (the jobs read before still go)
    # More than a new read of the store would withhold, never less
    read = Withheld(frozenset({"a", "c"}), {"qemu"}, ["a", "b", "c", "old"],
                    ["qemu", "x86", "gone"], jobs=[7, 8])
    # (Every row but one naming a board shown with a job that ran on b: a job runs on one board.
    # Past the jobs' bound a new read leaves such rows too: core/withheld.py.)
    rows = [(d, t, j) for d in ("a", "b", "c", "old", None) for t in ("qemu", "x86", None)
            for j in (None, 7, 8, 9) if not (d in ("a", "c") and j == 8)]
    assert all(now.row(*r) for r in rows if read.row(*r))
    assert set(read.names) <= set(now.names) and set(read.types) <= set(now.types)


def test_a_board_shown_again_is_shown_and_nothing_else_changes():
    last = Withheld(frozenset({"a"}), {"qemu"}, ["a", "b"], ["qemu"], jobs=[7], cut_short=True)
    now = last.against(frozenset({"a", "b"}), frozenset({"qemu"}))
    assert not now.device("b") and not now.row("b", "qemu") and now.names == ()
    assert now.row("b", "qemu", 7) and not now.jobs_cut  # its jobs' rows wait for the read
    assert now.cut_short and now.too_many  # (a store read only in part stays so)
    same = last.against(frozenset({"a"}), frozenset({"qemu"}))
    assert (same.names, same.types, same.jobs, same.jobs_cut) == (
        last.names, last.types, last.jobs, last.jobs_cut)


def test_a_job_the_screen_keeps_out_has_every_row_withheld_and_so_after_against():
    """A job queued for a type anyone may see, then scheduled on a board LAVA hid before (that
    event never stored): no stored row names the board, but the model's screen keeps it out. An
    audit: its queued row, with its description and submitter, stayed shown."""
    kept_out = {9}
    withheld = Withheld(frozenset({"a"}), {"qemu"}, ["a"], ["qemu"], kept_out=kept_out.__contains__)
    assert withheld.job(9) and withheld.row(None, "qemu", 9) and withheld.row("a", "qemu", 9)
    assert not withheld.job(8) and not withheld.row(None, "qemu", 8) and not withheld.job(None)
    assert withheld.against(frozenset({"a"}), frozenset({"qemu"})).row(None, "qemu", 9)
    kept_out.clear()  # LAVA shows its board again: the screen lets it in, its rows come back
    assert not withheld.row(None, "qemu", 9) and not withheld.job(9)
    assert not Withheld(frozenset({"a"}), {"qemu"}).job(9)  # (no screen: open access)
