"""The controller's state machine, as data: states, named triggers and the interlocks that
guard them. Built with `transitions` on any model that provides the guard methods, so the
controller, the property tests and docs/state-machine.md all use this one definition."""

from __future__ import annotations

from transitions import Machine

STATES = ("disconnected", "connecting", "locked", "homing", "idle", "priming", "ready",
          "armed", "injecting", "paused", "fault", "estop", "calibrating")

INTERLOCKS = ("is_homed", "parts_present", "program_valid", "calibration_valid",
              "drug_for_next_shot", "within_budget", "no_alarm_latched")
"""Everything that must hold before the needle may go into a patient."""

CONNECTED = tuple(s for s in STATES if s not in ("disconnected", "connecting"))
RUNNING = tuple(s for s in CONNECTED if s not in ("fault", "estop"))
"""Where an alarm or a disagreement can put the controller in fault."""

TRANSITIONS = (
    {"trigger": "connect", "source": "disconnected", "dest": "connecting"},
    {"trigger": "link_up", "source": "connecting", "dest": "fault",
     "unless": ["no_alarm_latched"]},
    {"trigger": "link_up", "source": "connecting", "dest": "locked",
     "conditions": ["no_alarm_latched"]},
    {"trigger": "disconnect", "source": list(STATES[1:]), "dest": "disconnected"},
    {"trigger": "home", "source": ["locked", "idle", "ready"], "dest": "homing",
     "conditions": ["parts_present", "no_alarm_latched"]},
    {"trigger": "homed", "source": ["homing", "locked"], "dest": "idle",
     "conditions": ["is_homed"]},
    {"trigger": "prime", "source": "idle", "dest": "priming",
     "conditions": ["is_homed", "parts_present", "no_alarm_latched"]},
    {"trigger": "primed", "source": "priming", "dest": "idle"},
    {"trigger": "load", "source": ["idle", "ready"], "dest": "ready",
     "conditions": ["is_homed", "program_valid"]},
    {"trigger": "unload", "source": "ready", "dest": "idle"},
    {"trigger": "arm", "source": "ready", "dest": "armed", "conditions": list(INTERLOCKS)},
    {"trigger": "inject", "source": "armed", "dest": "injecting",
     "conditions": list(INTERLOCKS)},
    {"trigger": "run_done", "source": "injecting", "dest": "armed"},
    {"trigger": "pause", "source": ["injecting", "armed"], "dest": "paused"},
    {"trigger": "resume", "source": "paused", "dest": "injecting",
     "conditions": list(INTERLOCKS)},
    {"trigger": "rearm", "source": "paused", "dest": "armed", "conditions": list(INTERLOCKS)},
    {"trigger": "disarm", "source": ["armed", "paused"], "dest": "ready"},
    {"trigger": "alarm", "source": list(RUNNING), "dest": "fault"},
    {"trigger": "mismatch", "source": list(RUNNING), "dest": "fault"},
    {"trigger": "link_lost", "source": list(RUNNING), "dest": "fault"},
    {"trigger": "record_failed", "source": list(RUNNING), "dest": "fault"},
    {"trigger": "estop", "source": list(CONNECTED), "dest": "estop"},
    {"trigger": "acknowledge", "source": "fault", "dest": "idle",
     "conditions": ["no_alarm_latched", "is_homed"]},
    {"trigger": "acknowledge", "source": ["fault", "estop"], "dest": "locked",
     "conditions": ["no_alarm_latched"], "unless": ["is_homed"]},
    {"trigger": "calibrate", "source": "idle", "dest": "calibrating",
     "conditions": ["is_homed", "parts_present", "no_alarm_latched"]},
    {"trigger": "calibrated", "source": "calibrating", "dest": "idle"},
)


def build_machine(model, *, graph: bool = False) -> Machine:
    """Attach the machine to `model` (which provides the INTERLOCKS methods)."""
    kwargs = dict(model=model, states=list(STATES), transitions=[dict(t) for t in TRANSITIONS],
                  initial="disconnected", auto_transitions=False, ignore_invalid_triggers=False,
                  after_state_change="on_state_change" if hasattr(model, "on_state_change")
                  else None)
    if graph:
        from transitions.extensions import GraphMachine

        return GraphMachine(graph_engine="mermaid", show_conditions=True, **kwargs)
    return Machine(**kwargs)


def mermaid() -> str:
    """The diagram of the machine itself, for docs/state-machine.md."""

    class Model:
        pass

    model = Model()
    for name in INTERLOCKS:
        setattr(model, name, lambda: True)
    build_machine(model, graph=True)
    text = model.get_graph().draw(None)
    # Drop the styling lines that mark the current state: the doc shows the machine, not a run.
    return "\n".join(line for line in text.splitlines()
                     if not line.strip().startswith(("Class ", "classDef ")))


if __name__ == "__main__":
    print(mermaid())
