"""The session's events, as `run --events` passes them on: every kind (state, shot, alarm,
refill, hold, end) published by the controller and the session without a second copy of
their logic, each valid by docs/schemas/event.json, and the end always last."""

from __future__ import annotations

import asyncio
import json

import pytest

from injector.cli import main
from injector.controller import Controller
from injector.documents import event as event_document
from injector.events import EndEvent, Event, Publisher, ShotEvent
from injector.machine import STATES
from injector.ports import open_driver
from injector.session import SessionRequest, interrupted_result, run_session
from injector.store import Store
from tests.conftest import CHECKLIST
from tests.rig import treatment, CATALOG
from tests.schemas import SCHEMAS, validate


async def session_events(url: str, record, request: SessionRequest, during=None):
    """(result, events as documents) of a session on `url`, run in this task as the command
    line runs it; `during(controller, task)` runs beside it and may cancel it (Ctrl-C)."""
    events: list[Event] = []
    store = Store(record)
    driver, _ = open_driver(url)
    controller = Controller(driver, store)
    controller.events.add(events.append)
    started = asyncio.get_running_loop().time()
    beside = (asyncio.create_task(during(controller, asyncio.current_task()))
              if during is not None else None)
    try:
        result = await run_session(controller, CATALOG, request)
    except asyncio.CancelledError as interrupted:
        result = interrupted_result(interrupted)
    finally:
        await controller.close()
        store.close()
    if beside is not None:
        await beside
    documents = [event_document(e, started) for e in events]
    for document in documents:
        validate(document, "event")
    return result, documents


def of_type(documents: list[dict], kind: str) -> list[dict]:
    return [d for d in documents if d["type"] == kind]


async def test_a_session_with_a_syringe_change_publishes_states_shots_a_refill_and_the_end(
        injector_sim_memory, injector_record):
    request = treatment("infiltration", "thighs", "30G-13mm", shots=110)
    result, documents = await session_events(injector_sim_memory, injector_record, request)
    assert result.status == "completed"
    shots = of_type(documents, "shot")
    assert [s["shots_done"] for s in shots] == list(range(1, 111))
    assert shots[-1]["session_delivered_ul"] == pytest.approx(result.summary["delivered_ul"])
    assert [r["refills"] for r in of_type(documents, "refill")] == [1]
    states = [s["state"] for s in of_type(documents, "state")]
    assert states[:3] == ["connecting", "locked", "homing"] and "injecting" in states
    assert documents[-1]["type"] == "end" and len(of_type(documents, "end")) == 1
    assert documents[-1]["summary"] == {"schema_version": 1} | result.summary
    assert {d["session_id"] for d in documents[3:]} == {result.session_id}
    assert all(d["session_id"] is None for d in documents[:2])      # before the record
    assert [d["elapsed_s"] for d in documents] == sorted(d["elapsed_s"] for d in documents)


@pytest.mark.injector_sim(fault="occlusion@4")
async def test_an_alarm_is_published_with_its_name_and_shot(injector_sim_memory,
                                                           injector_record):
    request = treatment("nappage-superficial", "face", "32G-4mm", shots=10)
    result, documents = await session_events(injector_sim_memory, injector_record, request)
    (alarm,) = of_type(documents, "alarm")
    assert (alarm["name"], alarm["severity"], alarm["shot_index"]) == ("occlusion", "stop", 4)
    assert (documents[-1]["type"], documents[-1]["status"]) == ("end", "aborted")


async def test_a_pause_and_an_interruption_are_published_as_holds(injector_sim_memory,
                                                                 injector_record):
    request = treatment("nappage-superficial", "face", "32G-4mm", shots=400)

    async def clinician_then_ctrl_c(controller, session):
        await controller.wait_for(lambda: controller.account.shots_done >= 5, 60, "5 shots")
        await controller.pause()
        await controller.resume()
        await controller.wait_for(lambda: controller.account.shots_done >= 10, 60, "10")
        session.cancel()

    result, documents = await session_events(injector_sim_memory, injector_record, request,
                                             during=clinician_then_ctrl_c)
    holds = [h["reason"] for h in of_type(documents, "hold")]
    assert holds == ["paused by the clinician", "stopped: the session's task was cancelled"]
    assert (documents[-1]["status"], result.status) == ("interrupted", "interrupted")


def test_nothing_follows_the_end_and_a_failing_listener_is_dropped():
    from datetime import datetime, timezone

    def shot(n: int) -> ShotEvent:
        return ShotEvent(1, float(n), datetime.now(timezone.utc), n, n, 1.0, 10.0, 10.0 * n,
                         9000.0, False)

    seen, publisher = [], Publisher()

    def gone(event: Event) -> None:
        raise BrokenPipeError("the reader went away")
    publisher.add(gone)
    publisher.add(seen.append)
    publisher.publish(shot(1))
    publisher.publish(EndEvent(1, 2.0, datetime.now(timezone.utc), "completed", "done", {}))
    publisher.publish(shot(2))
    assert [type(e).__name__ for e in seen] == ["ShotEvent", "EndEvent"]
    assert not publisher


def test_the_schema_knows_every_state_of_the_machine():
    schema = json.loads((SCHEMAS / "event.json").read_text())
    assert tuple(schema["$defs"]["state"]["properties"]["state"]["enum"]) == STATES


@pytest.mark.looptime(False)
def test_events_are_all_that_run_writes_to_standard_output(injector_record, capsys):
    code = main(["run", *CHECKLIST, "--port", "sim://?fault=occlusion@3", "--preset",
                 "nappage-superficial", "--zone", "face", "--needle", "32g-4mm", "--shots", "5",
                 "--events"])
    out, err = capsys.readouterr()
    lines = [json.loads(line) for line in out.splitlines()]
    for line in lines:
        validate(line, "event")
    assert code == 1
    assert {line["type"] for line in lines} == {"state", "shot", "alarm", "end"}
    assert lines[-1]["type"] == "end" and lines[-1]["summary"]["alarms"] == ["occlusion"]
    assert "session 1 aborted: alarm occlusion" in err          # the summary, for a person
    assert "shots      3 of 5" in err


async def test_a_shot_is_kept_only_until_it_is_reported(injector_sim_memory, injector_record):
    # Without a listener too: a 10,000-shot session keeps none of its shots in memory.
    store = Store(injector_record)
    driver, _ = open_driver(injector_sim_memory)
    controller = Controller(driver, store)
    try:
        result = await run_session(controller, CATALOG, treatment(
            "nappage-superficial", "face", "32G-4mm", shots=150))
    finally:
        await controller.close()
        store.close()
    assert result.summary["shots_done"] == 150 and not controller.unreported_shots
