"""Exit codes of the `injector` command, as documented in the README."""

OK = 0
FAILED = 1
"""The operation ran and failed: device absent or silent, alarm mid-session."""
USAGE = 2
"""The command line itself is wrong (argparse's own code)."""
REFUSED = 3
"""Refused before anything ran: outside the safety envelope, unknown name, bad preset file."""
INTERRUPTED = 130
"""Stopped by Ctrl-C; the gun was held and retracted first. SIGTERM and SIGHUP do the same
and exit 143 and 129 (128 + the signal's number, injector/cli/signals.py)."""
