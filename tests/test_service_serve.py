"""`injector serve` as a user starts it: its URL first on standard output, a warning when it
listens beyond this machine, a bad port refused before anything opens, and SIGTERM holding
the gun and recording the running session before a clean exit."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from websockets.sync.client import connect

from injector.store import Store
from tests.service_rig import CHECKLIST_ANSWERS
from tests.conftest import REPO, run_cli

START_S = 60.0


def serve(*args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "injector", "serve", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=REPO, env=env)


def first_line(process: subprocess.Popen) -> str:
    """The first line on standard output (the base URL), or what the process said."""
    line = process.stdout.readline().strip()
    if not line:
        process.kill()
        raise AssertionError(f"no URL; stderr: {process.stderr.read()}")
    return line


def stop(process: subprocess.Popen, sig=signal.SIGTERM) -> tuple[int, str]:
    process.send_signal(sig)
    try:
        _, err = process.communicate(timeout=START_S)
    except subprocess.TimeoutExpired:
        process.kill()
        raise
    return process.returncode, err


def test_serve_prints_its_url_first_and_warns_when_it_listens_beyond_this_machine(tmp_path):
    process = serve("--db", str(tmp_path / "record.db"), "--listen", "0.0.0.0:0")
    try:
        url = first_line(process)
        assert url.startswith("http://0.0.0.0:") and int(url.rsplit(":", 1)[1]) > 0
        port = url.rsplit(":", 1)[1]
        document = httpx.get(f"http://127.0.0.1:{port}/api/v1/openapi.json", timeout=30)
        assert document.status_code == 200 and document.json()["info"]["version"] == "1.0"
        assert httpx.get(f"http://127.0.0.1:{port}/api/v1/status",
                         timeout=30).status_code == 401
    finally:
        code, err = stop(process, signal.SIGINT)
    assert code == 0, err
    assert "WARNING: listening on 0.0.0.0, beyond this machine" in err
    assert "Traceback" not in err


def test_a_bad_port_is_refused_before_anything_opens(tmp_path):
    done = run_cli("serve", "--db", str(tmp_path / "record.db"), "--port",
                   "sim://?volume_gian=1.07")
    assert done.returncode == 3 and done.stderr.count("\n") == 1, done.stderr
    assert "did you mean volume_gain" in done.stderr
    assert done.stdout == "" and list(tmp_path.iterdir()) == []


def test_sigterm_holds_the_gun_and_records_the_running_session_as_interrupted(tmp_path):
    record = tmp_path / "record.db"
    added = run_cli("user", "add", "dr.ilic", "--role", "clinician", "--db", str(record),
                    input="pin-0451\n")
    assert added.returncode == 0, added.stderr
    process = serve("--db", str(record), env=os.environ | {"INJECTOR_LOG": str(
        tmp_path / "serve.log")})
    try:
        url = first_line(process)
        assert url.startswith("http://127.0.0.1:")
        token = httpx.post(f"{url}/api/v1/auth/sign-in", json={
            "name": "dr.ilic", "secret": "pin-0451"}, timeout=30).json()["token"]
        headers = {"Authorization": f"Bearer {token}"}
        with connect(url.replace("http", "ws") + "/api/v1/events",
                     additional_headers=headers, open_timeout=30) as events:
            started = httpx.post(f"{url}/api/v1/guns/1/sessions", headers=headers, timeout=30,
                                 json={"preset": "nappage-superficial", "zone": "thighs",
                                       "needle": "32g-4mm", "shots": 5000,
                                       "checklist": CHECKLIST_ANSWERS,
                                       "override": "a long session to outlive a signal"})
            assert started.status_code == 201, started.text
            session_id = started.json()["session_id"]
            while not any(e.get("type") == "shot" for e in json.loads(events.recv(30))):
                pass                            # until the gun has given a shot
    finally:
        code, err = stop(process)
    assert code == 0, err
    assert "stopped by SIGTERM: 1 session(s) interrupted and recorded, every gun held" in err
    assert "WARNING" not in err and "Traceback" not in err
    store = Store(record, readonly=True)
    session = store.session(session_id)
    assert session["status"] == "interrupted" and "SIGTERM" in session["end_reason"]
    assert session["person"] == "dr.ilic" and 0 < session["shots_done"] < 5000
    device = [c["state"] for c in store.state_changes(session_id) if c["side"] == "device"]
    assert device[-2:] == ["held", "idle"]          # held, needle out, then disarmed
    assert Path(record).exists() and store.verify().intact
