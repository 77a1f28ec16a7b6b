"""A live progress bar for sessions (rich): shots, volume, syringe level and state."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class SessionProgress:
    def __init__(self, total_shots: int, *, enabled: bool = True) -> None:
        console = Console(stderr=True)
        self.enabled = enabled and console.is_terminal      # no bar in logs and pipelines
        self._progress = Progress(
            TextColumn("[bold]{task.fields[state]:>9}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("shots  {task.fields[volume]:>8} ul delivered  syringe {task.fields[syringe]:>6} ul"),
            TimeElapsedColumn(), console=console, transient=False,
            disable=not self.enabled)
        self._task = self._progress.add_task("session", total=total_shots, state="starting",
                                             volume="0.0", syringe="-")

    def __enter__(self) -> SessionProgress:
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self._progress.stop()

    def update(self, _event, controller) -> None:
        status = controller.status
        syringe = f"{status.syringe_remaining_nl / 1000:.0f}" if status else "-"
        self._progress.update(self._task, completed=controller.account.shots_done,
                              state=controller.state,
                              volume=f"{controller.account.delivered_ul:.1f}",
                              syringe=syringe)
