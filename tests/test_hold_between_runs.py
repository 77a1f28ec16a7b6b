"""A hold that comes before the first run of shots (during homing or the prime): the session
loads the program but does not arm the gun, so a trigger pull fires nothing, until the
clinician resumes; then it arms and runs."""

from __future__ import annotations

import asyncio

from drivers.messages import DeviceState
from injector.controller import Controller
from injector.session import run_session
from injector.store import Store
from tests.rig import treatment, CATALOG, make_rig


async def _close(task, controller, rig, store) -> None:
    if not task.done():
        task.cancel()
    await controller.close()
    await rig.close()
    store.flush()


async def test_a_session_held_before_its_runs_waits_unarmed_until_resumed(tmp_path):
    rig = await make_rig("serial-memory", connect=False)
    store = Store(tmp_path / "record.db")
    controller = Controller(rig.driver, store)
    held = True
    request = treatment("nappage-superficial", "face", "32G-4mm", shots=30)
    task = asyncio.create_task(run_session(controller, CATALOG, request,
                                           held=lambda: held))
    try:
        await controller.wait_for(lambda: controller.state == "ready", 60, "the load")
        await asyncio.sleep(5.0)                        # the clinician takes their time
        assert controller.state == "ready"              # loaded, not armed
        assert rig.gun.firmware.state is not DeviceState.ARMED
        assert rig.gun.firmware.press_trigger() is False     # a trigger pull: nothing
        assert controller.account.shots_done == 0 and not task.done()
        held = False
        await controller.refresh()                      # the session hears of it
        result = await task
    finally:
        await _close(task, controller, rig, store)
    assert (result.status, result.summary["shots_done"]) == ("completed", 30)
    host = [c["state"] for c in store.state_changes(result.session_id) if c["side"] == "host"]
    assert "paused" not in host and host.index("ready") < host.index("armed")


async def test_a_hold_that_comes_while_the_gun_arms_holds_it_and_the_resume_rearms(tmp_path):
    """The hold arrives while the arm command is on its way: the gun, armed with no run,
    is held at once, and the resume arms it again (the controller's `rearm`), never taken
    for firing."""
    rig = await make_rig("serial-memory", connect=False)
    store = Store(tmp_path / "record.db")
    controller = Controller(rig.driver, store)
    armed_once, released = False, False

    def held() -> bool:
        nonlocal armed_once
        armed_once = armed_once or controller.state == "armed"
        return armed_once and not released

    request = treatment("nappage-superficial", "face", "32G-4mm", shots=30)
    task = asyncio.create_task(run_session(controller, CATALOG, request, held=held))
    try:
        await controller.wait_for(lambda: controller.state == "paused", 60, "the hold")
        await asyncio.sleep(5.0)
        assert rig.gun.firmware.state is DeviceState.HELD
        assert controller.account.shots_done == 0 and not task.done()
        await controller.resume()                       # as the service's resume does
        assert controller.state == "armed"              # armed again, not "injecting"
        released = True
        await controller.refresh()
        result = await task
    finally:
        await _close(task, controller, rig, store)
    assert (result.status, result.summary["shots_done"]) == ("completed", 30)
    host = [c["state"] for c in store.state_changes(result.session_id) if c["side"] == "host"]
    assert host.index("paused") < host.index("injecting")   # nothing fired while held
