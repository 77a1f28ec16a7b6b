"""The record's commits: every row a power cut must not take is committed before anything
reports it, and a shot shares a commit only when shots come faster than a gun can shoot."""

from __future__ import annotations

import sqlite3

from injector.controller import Controller
from injector.session import SessionRequest, run_session
from injector.store import Store
from tests.rig import CATALOG, make_rig


def committed_shots(path) -> int:
    """What another process (or the disk after a power cut) sees."""
    with sqlite3.connect(path) as other:
        return other.execute("SELECT COUNT(*) FROM shots").fetchone()[0]


def a_session(store: Store) -> int:
    return store.start_session(device_serial="SIM-1", preset="nappage-superficial",
                               zone="face", needle="32G-4mm", syringe_ml=10.0,
                               planned_shots=3, budget_ul=30.0, dose_ul=10.0,
                               drug_loss_fraction=0.5, calibration={}, plan={})


def shot(store: Store, session_id: int, index: int) -> None:
    store.record_shot(session_id, shot_index=index, depth_um=1000, volume_nl=10_000,
                      commanded_nl=10_000, peak_pressure_kpa=20, interrupted=False,
                      device_time_ms=index * 125)


def test_shots_inside_the_window_share_the_next_commit(tmp_path):
    path = tmp_path / "record.db"
    store = Store(path, group_commit_s=3600.0)     # every write falls inside the window
    session = a_session(store)
    shot(store, session, 1)
    shot(store, session, 2)
    assert (committed_shots(path), store.uncommitted_shots) == (0, 2)
    store.record_state(session, "SIM-1", "device", "armed", "firing", "FIRE")
    assert (committed_shots(path), store.uncommitted_shots) == (2, 0)
    shot(store, session, 3)
    store.close()
    assert committed_shots(path) == 3


def test_shots_as_far_apart_as_a_gun_fires_are_each_committed(tmp_path):
    path = tmp_path / "record.db"
    store = Store(path, group_commit_s=0.0)         # a window shorter than any shot cycle
    session = a_session(store)
    for index in (1, 2, 3):
        shot(store, session, index)
        assert committed_shots(path) == index
    store.close()


async def test_a_shot_is_reported_only_once_committed(tmp_path):
    # In virtual time shots arrive microseconds apart, so most share commits; a report must
    # still never be ahead of what another process can read.
    path = tmp_path / "record.db"
    rig = await make_rig("serial-memory", connect=False)
    store = Store(path)
    controller = Controller(rig.driver, store)
    seen: list[tuple[int, int]] = []

    def on_shot(recorded: int, _controller) -> None:
        seen.append((recorded, committed_shots(path)))

    try:
        result = await run_session(controller, CATALOG, SessionRequest(
            "nappage-superficial", "face", "32G-4mm", shots=200), on_shot=on_shot)
    finally:
        await controller.close()
        await rig.close()
        store.close()
    assert result.status == "completed"
    assert [n for n, _ in seen] == list(range(1, 201))
    assert all(committed >= n for n, committed in seen)
