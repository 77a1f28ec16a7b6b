"""The controller's state machine, on its own: property-based sequences of triggers and
changing facts. Injecting is never reached without every interlock; no alarm is lost or
cleared without an acknowledgement."""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from transitions.core import MachineError

from injector.machine import INTERLOCKS, STATES, TRANSITIONS, build_machine, mermaid
from tests.conftest import REPO

FACTS = [name for name in INTERLOCKS if name != "no_alarm_latched"]
TRIGGERS = sorted({t["trigger"] for t in TRANSITIONS} - {"alarm", "acknowledge"})


class Facts:
    """A model whose interlocks are plain facts the test flips."""

    def __init__(self) -> None:
        self.facts = dict.fromkeys(FACTS, False)
        self.latched: set[int] = set()
        self.violations: list[str] = []
        for name in FACTS:
            setattr(self, name, lambda name=name: self.facts[name])

    def no_alarm_latched(self) -> bool:
        return not self.latched

    def on_state_change(self) -> None:
        if self.state in ("armed", "injecting"):
            broken = [n for n in INTERLOCKS if not getattr(self, n)()]
            if broken:
                self.violations.append(f"{self.state} with {broken}")
        # Reconnecting with an alarm still latched is allowed: the gun's status, read while
        # connecting, puts the controller back in fault (tests/test_session.py).
        if self.latched and self.state not in ("fault", "estop", "disconnected", "connecting"):
            self.violations.append(f"left fault to {self.state} with {self.latched} latched")


class ControllerMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.model = Facts()
        build_machine(self.model)
        self.acknowledged: set[int] = set()
        self.raised: set[int] = set()

    @rule(fact=st.sampled_from(FACTS), value=st.booleans())
    def set_fact(self, fact, value):
        self.model.facts[fact] = value

    @rule(trigger=st.sampled_from(TRIGGERS))
    def fire(self, trigger):
        try:
            self.model.trigger(trigger)
        except MachineError:
            pass                        # not allowed from this state: refused, nothing moved

    @rule(code=st.integers(0x0101, 0x0109))
    def device_alarm(self, code):
        if self.model.state in ("disconnected", "connecting"):
            return
        self.model.latched.add(code)
        self.raised.add(code)
        try:
            self.model.trigger("alarm")
        except MachineError:
            pass                        # already in fault or estop: stays latched there

    @precondition(lambda self: self.model.latched)
    @rule(data=st.data())
    def person_acknowledges(self, data):
        code = data.draw(st.sampled_from(sorted(self.model.latched)))
        self.model.latched.discard(code)
        self.acknowledged.add(code)
        try:
            self.model.trigger("acknowledge")
        except MachineError:
            pass

    @invariant()
    def interlocks_held_and_alarms_kept(self):
        assert not self.model.violations, self.model.violations
        # Every alarm raised is either still latched or was acknowledged by a person.
        assert self.raised <= self.model.latched | self.acknowledged
        if self.model.latched:
            assert self.model.state in ("fault", "estop", "disconnected", "connecting")
        assert self.model.state in STATES


ControllerMachine.TestCase.settings = settings(max_examples=300, stateful_step_count=40,
                                                deadline=None)
TestControllerMachine = ControllerMachine.TestCase


def test_injecting_is_only_reachable_through_guarded_transitions():
    into = [t for t in TRANSITIONS if t["dest"] in ("armed", "injecting")]
    assert into and all(set(INTERLOCKS) <= set(t.get("conditions", ())) for t in into
                        if t["trigger"] != "run_done")
    run_done = next(t for t in TRANSITIONS if t["trigger"] == "run_done")
    assert run_done["source"] == "injecting"     # back to armed only from a guarded state


def test_state_machine_doc_is_generated_from_the_machine():
    doc = (REPO / "docs" / "state-machine.md").read_text(encoding="utf-8")
    block = doc.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert block.strip() == mermaid().strip(), "regenerate: python -m injector.machine"


def test_reconnecting_with_an_alarm_unacknowledged_lands_in_fault():
    # Found by the property test above: the link went down while an alarm was latched, and
    # link_up took the controller to locked, from where homing and arming would follow.
    model = Facts()
    build_machine(model)
    for trigger in ("connect", "link_up"):
        model.trigger(trigger)
    model.latched.add(0x0101)
    model.trigger("alarm")
    for trigger in ("disconnect", "connect", "link_up"):
        model.trigger(trigger)
    assert model.state == "fault" and not model.violations
