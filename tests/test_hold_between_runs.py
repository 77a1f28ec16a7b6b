"""A hold that comes between runs of shots (or before the first): nothing fires until the
clinician resumes, and the gun, held while armed with no run left, is armed again on resume
(the controller's `rearm`), never taken for firing."""

from __future__ import annotations

import asyncio

from drivers.messages import DeviceState
from injector.controller import Controller
from injector.session import run_session
from injector.store import Store
from tests.rig import treatment, CATALOG, make_rig


async def test_a_session_held_before_its_runs_fires_nothing_until_resumed(tmp_path):
    rig = await make_rig("serial-memory", connect=False)
    store = Store(tmp_path / "record.db")
    controller = Controller(rig.driver, store)
    held = True
    request = treatment("nappage-superficial", "face", "32G-4mm", shots=30)
    task = asyncio.create_task(run_session(controller, CATALOG, request,
                                           held=lambda: held))
    try:
        await controller.wait_for(lambda: controller.state == "armed", 60, "armed")
        await controller.pause()                        # the gun holds, armed, no run left
        assert controller.state == "paused"
        await asyncio.sleep(5.0)                        # the clinician takes their time
        assert rig.gun.firmware.state is DeviceState.HELD
        assert controller.account.shots_done == 0 and not task.done()
        await controller.resume()
        assert controller.state == "armed"              # armed again, not "injecting"
        assert rig.gun.firmware.state is DeviceState.ARMED
        held = False
        await controller.refresh()                      # the session hears of it
        result = await task
    finally:
        await controller.close()
        await rig.close()
        store.flush()
    assert (result.status, result.summary["shots_done"]) == ("completed", 30)
    host = [c["state"] for c in store.state_changes(result.session_id) if c["side"] == "host"]
    assert host.index("paused") < host.index("injecting")   # nothing fired while held
