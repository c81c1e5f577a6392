"""The signing key file (dashboard/storage/secrets.py) made by several processes starting together,
as the web processes of a cluster sharing one data folder do: all of them end up with the same key,
the one in the file."""
import multiprocessing
import os

from dashboard.storage import secrets

PROCESSES = 6
ROUNDS = 15


def _start_together(barrier, data_dir, keys):
    barrier.wait()
    try:
        keys.put(secrets.load_or_create(data_dir))
    except Exception as err:  # the test says which, rather than hanging on a missing answer
        keys.put(f"raised {type(err).__name__}: {err}")


def test_processes_creating_the_key_together_all_get_the_one_in_the_file(tmp_path):
    context = multiprocessing.get_context("fork")
    for round_ in range(ROUNDS):
        data_dir = str(tmp_path / f"data-{round_}")
        barrier, keys = context.Barrier(PROCESSES), context.Queue()
        workers = [context.Process(target=_start_together, args=(barrier, data_dir, keys))
                   for _ in range(PROCESSES)]
        for worker in workers:
            worker.start()
        got = [keys.get(timeout=30) for _ in workers]
        for worker in workers:
            worker.join(timeout=30)
        with open(os.path.join(data_dir, secrets.FILE_NAME), encoding="ascii") as fh:
            on_disk = fh.read().strip()
        assert len(on_disk) >= 32
        assert got == [on_disk] * PROCESSES, (round_, got)
        assert sorted(os.listdir(data_dir)) == [secrets.FILE_NAME]  # no temporary file left
