"""The touchscreen's calibration wizard: a calibration run in the service whose instrument
readings a technician types on the page, one prompt at a time.

`injector calibrate --balance prompt` asks at a terminal (injector/cli/typed_readings.py,
TypedReadings); here the same run (injector.calibration, through Runs.calibrate) asks the
page instead: the run waits on a Prompt, the page shows it (what to do, which set value,
which shot of how many), and the technician's answer is posted back. A reading that is not
a reading (negative, not a number) is refused with the value and the prompt stays: a typo is
asked again, never the end of the calibration. The run's heartbeats go on meanwhile (it
waits on a future of the service's loop, not on a thread).
"""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import asdict, dataclass
from enum import Enum

from drivers.instruments import EXAMPLE_READING, TypedInstrument, is_reading
from injector.service.errors import ServiceError

ANSWER_MOST = 1.0e6
"""No balance (grams) or gauge (millimetres) reading is anywhere near this."""


class Step(Enum):
    """What the person is asked to do."""

    TARE = "tare"
    """Put the empty cup on and tare the balance; confirm."""
    READING = "reading"
    """Read the instrument and type the value."""


@dataclass(frozen=True)
class Prompt:
    number: int
    """Counts up over the run: an answer names the prompt it answers, so a late or doubled
    post cannot answer the next one."""
    step: Step
    instrument: str
    unit: str
    context: str
    """What the reading is of: "set 25 ul, shot 2 of 10 (total in the cup)"."""

    def describe(self) -> dict:
        return asdict(self) | {"step": self.step.value}


@dataclass(frozen=True)
class Reading:
    number: int
    instrument: str
    value: float
    unit: str
    context: str


class AnswerRefused(ServiceError):
    """An answer the run cannot take: not a reading, or for a prompt that is not waiting."""

    status, code = 422, "refused"


class NotAsked(ServiceError):
    status, code = 409, "not_asked"

    def __init__(self, number: int, waiting: int | None) -> None:
        super().__init__(f"prompt {number} is not waiting for an answer"
                         + (f" (prompt {waiting} is)" if waiting else " (nothing is)"),
                         number=number, waiting=waiting)


class PageReadings(TypedInstrument):
    """One instrument's readings, asked of the page (its serial number and temperature are
    entered on the form): the `readings` a calibration run takes."""

    def __init__(self, board: Board, kind: str, unit: str) -> None:
        super().__init__(kind, unit)
        self.board = board

    async def tare(self, context: str) -> None:
        await self.board.ask(Step.TARE, self.kind, "g", context)

    async def reading(self, context: str) -> float:
        return await self.board.ask(Step.READING, self.kind, self.unit, context)


class WatchedReadings:
    """An instrument that reads itself (a simulated gun's balance or gauge), every weight or
    depth it answers kept on the board: the page shows them live."""

    READINGS = {"S": "g", "D": "mm"}

    def __init__(self, board: Board, kind: str, unit: str, source) -> None:
        self.board, self.kind, self.unit, self.source = board, kind, unit, source
        self.instrument = None

    async def ask(self, command: str) -> str:
        answer = await self.source(command)
        fields = answer.split()
        if command in self.READINGS and len(fields) == 4 and fields[1] == "S":
            try:
                value = float(fields[2])
            except ValueError:
                return answer                   # the instrument's own check refuses it
            context = self.instrument.context if self.instrument is not None else ""
            self.board.seen(self.kind, value, fields[3], context)
        return answer


class Board:
    """The prompts of one wizard run: at most one waiting, and every reading taken."""

    def __init__(self) -> None:
        self._numbers = itertools.count(1)
        self.prompt: Prompt | None = None
        self._answer: asyncio.Future[float] | None = None
        self.readings: list[Reading] = []

    def readings_for(self, kind: str, unit: str) -> PageReadings:
        return PageReadings(self, kind, unit)

    def watching(self, kind: str, unit: str, source) -> WatchedReadings:
        return WatchedReadings(self, kind, unit, source)

    def seen(self, instrument: str, value: float, unit: str, context: str) -> None:
        self.readings.append(Reading(next(self._numbers), instrument, value, unit, context))

    async def ask(self, step: Step, instrument: str, unit: str, context: str) -> float:
        self.prompt = Prompt(next(self._numbers), step, instrument, unit, context)
        self._answer = asyncio.get_running_loop().create_future()
        try:
            value = await self._answer
        finally:
            self.prompt, self._answer = None, None
        return value

    def answer(self, number: int, value: float | None) -> Prompt:
        """The waiting prompt answered (a tare needs no value), or why not."""
        prompt = self.prompt
        if prompt is None or prompt.number != number or self._answer.done():
            raise NotAsked(number, prompt.number if prompt else None)
        if prompt.step is Step.READING:
            if not is_reading(value, ANSWER_MOST):
                raise AnswerRefused(f"{value!r} is not a {prompt.instrument} reading in "
                                    f"{prompt.unit}: give a number from 0 (such as "
                                    f"{EXAMPLE_READING[prompt.unit]})",
                                    field="value", value=None if value is None else repr(value),
                                    limit=f"0 to {ANSWER_MOST:g} {prompt.unit}")
            self.readings.append(Reading(number, prompt.instrument, float(value), prompt.unit,
                                         prompt.context))
        self._answer.set_result(0.0 if value is None else float(value))
        return prompt

    def describe(self) -> dict:
        return {"prompt": self.prompt.describe() if self.prompt else None,
                "readings": [asdict(r) for r in self.readings]}
