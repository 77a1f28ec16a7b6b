"""The controller: planner, state machine, sessions, calibration, the record and the CLI."""
