"""The firmware kit: the generated C header and example arrays are what the wire definitions
render now, and the C test built from them with the system compiler passes."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from drivers import c_header, device_limits
from tests.conftest import REPO
from tests.wire import c_examples

FIRMWARE = REPO / "firmware"


@pytest.mark.parametrize("module, name", [(c_header, "injector_protocol.h"),
                                          (c_examples, "protocol_examples.h")])
def test_the_committed_file_is_what_the_definitions_render(module, name):
    committed = (FIRMWARE / name).read_text(encoding="utf-8")
    assert module.render() == committed, f"firmware/{name} is stale: run `make header`"


def test_a_changed_definition_makes_the_committed_header_stale(monkeypatch):
    committed = (FIRMWARE / "injector_protocol.h").read_text(encoding="utf-8")
    monkeypatch.setattr(device_limits, "REPLY_CACHE", device_limits.REPLY_CACHE + 1)
    assert c_header.render() != committed


def test_the_header_states_the_protocol_as_the_python_side_speaks_it():
    header = c_header.render()
    for line in ("#define INJ_PROTOCOL_VERSION 2u", "#define INJ_CRC16_POLY 0x1021u",
                 "#define INJ_CRC16_CHECK 0x29B1u", "#define INJ_MAX_WIRE 265u",
                 "INJ_MSG_LOAD_PROGRAM = 0x05,", "INJ_ALARM_WATCHDOG = 0x0107,",
                 "INJ_ERR_OUT_OF_RANGE = 0x0003,", "#define INJ_SHOT_PROGRAM_SIZE 25u",
                 "#define INJ_STATUS_BOOT_ID_OFFSET 39u", "#define INJ_REPLY_CACHE 64u",
                 "#define INJ_MB_STATUS_BOOT_ID 121u", "#define INJ_MB_UNLOCK 500u",
                 "#define INJ_CONFIG_WATCHDOG_MS_MIN 50u", "#define INJ_FACTORY_WATCHDOG_MS 250u"):
        assert line in header


def test_the_c_test_builds_without_a_warning_and_passes_every_example(tmp_path):
    if shutil.which("cc") is None or shutil.which("make") is None:
        pytest.fail("the firmware kit's C test needs a C compiler (cc) and make")
    done = subprocess.run(["make", "--no-print-directory", "-C", str(FIRMWARE), "test",
                           f"OUT={tmp_path}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = done.stdout.strip().splitlines()[-1]
    assert summary.startswith("ok: ") and " 0 failed " in summary
    assert f"({len(c_examples.EXAMPLES)} doc examples," in summary


def test_the_header_defines_every_name_once():
    names = re.findall(r"^#define (\w+)|^    (INJ_\w+) =", c_header.render(), flags=re.M)
    defined = [macro or member for macro, member in names]
    assert len(defined) == len(set(defined)) > 500


def test_the_receive_path_in_the_firmware_doc_compiles_against_the_header(tmp_path):
    doc = (REPO / "docs" / "firmware.md").read_text(encoding="utf-8")
    (snippet,) = re.findall(r"```c\n(.*?)```", doc, flags=re.S)
    source = tmp_path / "receive.c"
    source.write_text(snippet, encoding="utf-8")
    done = subprocess.run(["cc", "-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic",
                           "-fsyntax-only", f"-I{FIRMWARE}", str(source)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
