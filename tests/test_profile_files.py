"""Preset files and directories read without trusting them: regular files only, bounded in
size, nesting and numbers, names and texts under the rules; every refusal one line.

What could hang or exhaust the process if it regressed (a FIFO, a link to /dev/zero) is
also driven through the command line in a bounded subprocess: tests/test_cli_bad_input.py.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from profiles import FILE_LIMITS, FileLimits, NameRuleError, PresetFileError, ProfileError, load_catalog
from profiles import ENVELOPE, files, loader
from profiles.loader import NUMBER_MAX
from tests.conftest import REPO
from tests.test_profile_display import assert_one_safe_line

GOOD = (REPO / "profiles" / "presets" / "classical.toml").read_text(encoding="utf-8")


def preset_text(preset_name: str = "custom-one", **edits: str) -> str:
    """The classical preset renamed, with whole-line edits (`dose_ul="dose_ul = 25.0"`)."""
    text = GOOD.replace('name = "classical"', f'name = "{preset_name}"', 1)
    for field, line in edits.items():
        start = text.index(f"\n{field} = ") + 1
        end = text.index("\n", start)
        text = text[:start] + line + text[end:]
    return text


def write_preset(directory: Path, data: str | bytes, name: str = "custom-one") -> Path:
    directory.mkdir(exist_ok=True)
    path = directory / f"{name}.toml"
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def refusal(directory: Path, limits: FileLimits = FILE_LIMITS) -> ProfileError:
    with pytest.raises(ProfileError) as refused:
        load_catalog([directory], limits=limits)
    assert_one_safe_line(str(refused.value))
    return refused.value


def test_the_good_file_loads(tmp_path):
    write_preset(tmp_path, preset_text(dose_ul="dose_ul = 25.0"))
    catalog = load_catalog([tmp_path])
    assert catalog.preset("custom-one").dose_ul == 25.0
    assert not catalog.preset("custom-one").builtin


# Not a regular file.

def test_a_link_to_dev_zero_is_refused_before_it_is_opened(tmp_path, monkeypatch):
    (tmp_path / "zero.toml").symlink_to("/dev/zero")
    opened = []
    real_open = os.open

    def watched_open(path, *args, **kwargs):
        opened.append(path)
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(files.os, "open", watched_open)
    error = refusal(tmp_path)
    assert str(error) == f"{tmp_path / 'zero.toml'}: is a character device; only regular files are read"
    assert [p for p in opened if "zero" in str(p)] == []


def test_a_file_swapped_for_a_device_after_the_check_is_caught_on_the_descriptor(tmp_path,
                                                                                monkeypatch):
    """The race: the name was a regular file at os.stat, /dev/zero when opened."""
    regular = os.stat(REPO / "profiles" / "zones.toml")
    monkeypatch.setattr(files, "_stat", lambda path, source: regular)
    with pytest.raises(PresetFileError, match="is a character device; only regular files"):
        files.read_bytes(Path("/dev/zero"), "swapped.toml")


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="needs Linux /proc")
def test_a_file_that_lies_about_its_size_is_read_no_further_than_the_limit(monkeypatch):
    assert os.stat("/proc/self/status").st_size == 0        # yet it holds over a kilobyte
    asked = []
    real_fdopen = os.fdopen

    def spied_fdopen(*args, **kwargs):
        file = real_fdopen(*args, **kwargs)
        real_read = file.read
        file.read = lambda size=-1: asked.append(size) or real_read(size)
        return file

    monkeypatch.setattr(files.os, "fdopen", spied_fdopen)
    with pytest.raises(PresetFileError, match="is over the 64-byte limit"):
        files.read_bytes(Path("/proc/self/status"), "status", FileLimits(max_file_bytes=64))
    assert asked == [65]


def test_a_directory_named_like_a_preset_is_refused(tmp_path):
    (tmp_path / "sub.toml").mkdir()
    assert "sub.toml: is a directory; only regular files are read" in str(refusal(tmp_path))


def test_a_broken_link_is_refused(tmp_path):
    (tmp_path / "gone.toml").symlink_to(tmp_path / "nowhere")
    assert "gone.toml: does not exist (or is a broken link)" in str(refusal(tmp_path))


def test_a_link_to_a_regular_preset_file_is_followed(tmp_path):
    real = write_preset(tmp_path / "real", preset_text())
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "custom-one.toml").symlink_to(real)
    assert load_catalog([tmp_path / "linked"]).preset("custom-one").dose_ul == 20.0


# Too big, too deep, numbers past any sense, not text.

def test_a_huge_file_is_refused_from_its_size_without_reading_it(tmp_path):
    with open(tmp_path / "huge.toml", "wb") as sparse:
        sparse.truncate(10 * 1024 * 1024)
    assert str(refusal(tmp_path)).endswith(
        "huge.toml: is 10485760 bytes, over the 65536-byte limit")


def test_a_file_of_exactly_the_limit_loads_and_one_byte_more_does_not(tmp_path):
    text = preset_text()
    padded = text + "#" * (FILE_LIMITS.max_file_bytes - len(text.encode()) - 1) + "\n"
    write_preset(tmp_path, padded)
    assert load_catalog([tmp_path]).preset("custom-one")
    write_preset(tmp_path, padded + "\n")
    assert "is 65537 bytes, over the 65536-byte limit" in str(refusal(tmp_path))


@pytest.mark.parametrize("depth", [9, 300, 30_000])
def test_nesting_past_the_limit_is_refused_in_one_line(tmp_path, depth):
    """9 parses and is counted; 30,000 exhausts tomllib's recursion (RecursionError)."""
    write_preset(tmp_path, f"x = {'[' * (depth - 1)}{']' * (depth - 1)}\n" + preset_text())
    assert str(refusal(tmp_path)).endswith("custom-one.toml: nested deeper than 8 levels")


def test_nesting_up_to_the_limit_reaches_the_schema(tmp_path):
    write_preset(tmp_path, f"x = {'[' * 7}{']' * 7}\n" + preset_text())
    assert "x = [[[[...]]]]: unknown field" in str(refusal(tmp_path))


@pytest.mark.parametrize("number, words", [
    ("9" * 400, "depth_mm = 999999999...(400 digits): outside (0, 1e+06] mm"),
    ("-" + "9" * 400, "depth_mm = -99999999...(400 digits): outside (0, 1e+06] mm"),
    ("0x" + "f" * 5000, "depth_mm = an integer of about 6020 digits: outside (0, 1e+06] mm"),
    ("9" * 5000, "not valid TOML: a number too long to read"),
    ("1e400", "depth_mm = inf: must be finite (mm)"),
    ("1e7", "depth_mm = 10000000.0: outside (0, 1e+06] mm"),
], ids=["400 digits", "minus 400 digits", "hex 5000 digits", "5000 digits", "1e400", "1e7"])
def test_numbers_past_any_sense_are_refused_and_shown_cut(tmp_path, number, words):
    write_preset(tmp_path, preset_text(depth_mm=f"depth_mm = {number}"))
    error = refusal(tmp_path)
    assert words in str(error)


@pytest.mark.parametrize("data, words", [
    (b"name = \"custom-one\"\n\xff\xfe", "is not UTF-8 text: byte 0xff at offset 20"),
    ("name = 'custom-one'\x00".encode(), "not valid TOML"),
    (b"\xef\xbb\xbf" + GOOD.encode(), "not valid TOML"),
], ids=["latin bytes", "nul", "byte order mark"])
def test_bytes_that_are_not_toml_text_are_refused(tmp_path, data, words):
    write_preset(tmp_path, data)
    assert words in str(refusal(tmp_path))


# Directories.

def test_a_missing_or_non_directory_is_refused(tmp_path):
    with pytest.raises(PresetFileError, match="does not exist"):
        load_catalog([tmp_path / "nowhere"])
    write_preset(tmp_path, preset_text())
    with pytest.raises(PresetFileError, match="custom-one.toml: is not a regular file, not a preset directory"):
        load_catalog([tmp_path / "custom-one.toml"])
    with pytest.raises(PresetFileError, match="is a character device, not a preset directory"):
        load_catalog([Path("/dev/null")])


def test_a_directory_of_too_many_entries_is_refused(tmp_path):
    for index in range(FILE_LIMITS.max_dir_entries + 1):
        (tmp_path / f"note-{index}.txt").touch()
    assert "holds more than 256 entries" in str(refusal(tmp_path))


def test_hidden_files_are_skipped(tmp_path):
    """Editors leave `.#name.toml` links and `.name.toml.swp` files beside what they edit."""
    write_preset(tmp_path, preset_text())
    (tmp_path / ".#custom-one.toml").symlink_to("user@host.1234")
    (tmp_path / ".custom-one.toml").write_text("garbage")
    assert "custom-one" in load_catalog([tmp_path]).presets


# Names in files: the file name, the name field, the table keys, the references.

@pytest.mark.parametrize("stem, words", [
    ("Custom", "character 1 is 'C', uppercase"),
    ("n\u0430ppage-middle", "character 2 is '\\u0430' (CYRILLIC SMALL LETTER A)"),
    ("nappage\u200b-middle", "'\\u200b' (ZERO WIDTH SPACE)"),
    ("\u202elmth.exe", "'\\u202e' (RIGHT-TO-LEFT OVERRIDE)"),
    ("two\nlines", "'\\n' (a control character)"),
    ("\x1b[31mred", "'\\x1b' (a control character)"),
    ("a..b", "'.' (FULL STOP)"),
    ("back\\slash", "'\\\\' (REVERSE SOLIDUS)"),
    ("a" * 41, "it is 41 characters long, over 40"),
], ids=["uppercase", "homoglyph", "zero-width", "bidi", "newline", "ansi", "dots",
        "backslash", "overlong"])
def test_a_file_whose_name_breaks_the_rule_is_refused_before_it_is_read(tmp_path, stem, words):
    write_preset(tmp_path, b"\xff not even text", name=stem)
    error = refusal(tmp_path)
    assert isinstance(error, NameRuleError)
    message = str(error)
    assert message.startswith(str(tmp_path)[:12]) and ".toml: preset file name '" in message
    assert words in message and "names are 1 to 40" in message


@pytest.mark.parametrize("line, field, words", [
    ('name = "Custom-one"', "name", "'C', uppercase"),
    ('technique = "nappage\\u200b"', "technique", "ZERO WIDTH SPACE"),
    ('summary = "safe \\u202e"', "summary", "RIGHT-TO-LEFT OVERRIDE"),
    ('summary = "one\\ntwo"', "summary", "'\\n' (a control character)"),
    ('summary = "\\u001b[2J"', "summary", "'\\x1b' (a control character)"),
    ('summary = "' + "s" * 121 + '"', "summary", "is 121 characters long, over 120"),
    ('notes = "ok\\nbut \\u200f"', "notes", "RIGHT-TO-LEFT MARK"),
])
def test_names_and_texts_inside_a_file_are_held_to_the_rules(tmp_path, line, field, words):
    write_preset(tmp_path, preset_text(**{field: line}))
    error = refusal(tmp_path)
    assert error.field == field and words in str(error)


def test_notes_and_quotes_may_have_lines(tmp_path):
    write_preset(tmp_path, preset_text(notes='notes = """one\ntwo"""'))
    assert load_catalog([tmp_path]).preset("custom-one").notes == "one\ntwo"


@pytest.mark.parametrize("seed", ["../../etc/passwd", "/etc/passwd", "..", "sub/000.txt",
                                  "a\\b.txt", ".hidden"])
def test_a_seed_is_a_plain_file_name(tmp_path, seed):
    text = preset_text().replace('seed = "001_a3fef025a4fc5af2.txt"', f"seed = '{seed}'")
    write_preset(tmp_path, text)
    error = refusal(tmp_path)
    assert error.field == "source[0].seed" and "file name of a seed" in str(error)


def test_references_in_the_old_spelling_are_read_in_the_catalogs(tmp_path):
    text = preset_text(zones='zones = ["Face", "neck"]', needles='needles = ["30G-4mm", "32g-4mm"]')
    write_preset(tmp_path, text)
    preset = load_catalog([tmp_path]).preset("custom-one")
    assert (preset.zones, preset.needles) == (("face", "neck"), ("30g-4mm", "32g-4mm"))


@pytest.mark.parametrize("name, like", [("pinp0int", "pinpoint"), ("nappage-midd1e", "nappage-middle"),
                                        ("nappage-rniddle", "nappage-middle")])
def test_a_custom_name_that_reads_like_another_is_refused(tmp_path, name, like):
    write_preset(tmp_path, preset_text(name), name=name)
    error = refusal(tmp_path)
    assert f"reads like the preset {like}" in str(error) and error.value == name


@pytest.mark.parametrize("key, words", [
    ('"Face"', "zone name 'Face': character 1 is 'F', uppercase"),
    ('"face\u200b"', "zone name 'face\\u200b': character 5 is '\\u200b' (ZERO WIDTH SPACE)"),
    ('"f\u0430ce"', "zone name 'f\\u0430ce': character 2 is '\\u0430'"),
])
def test_a_table_name_in_a_catalog_file_is_held_to_the_rule(tmp_path, key, words):
    path = tmp_path / "zones.toml"
    path.write_text(f"[zone.{key}]\ndepth_min_mm = 1.0\ndepth_max_mm = 2.0\nwhy = 'test'\n",
                    encoding="utf-8")
    with pytest.raises(NameRuleError) as refused:
        loader._load_zones(path, "zones.toml", ENVELOPE, FILE_LIMITS)
    assert str(refused.value).startswith(f"zones.toml: {words}")


def test_zone_names_that_read_alike_are_refused(tmp_path):
    path = tmp_path / "zones.toml"
    entry = "depth_min_mm = 1.0\ndepth_max_mm = 2.0\nwhy = 'test'\n"
    path.write_text(f"[zone.scalp]\n{entry}[zone.sca1p]\n{entry}")
    with pytest.raises(PresetFileError, match="zone = 'sca1p': reads like the zone scalp"):
        loader._load_zones(path, "zones.toml", ENVELOPE, FILE_LIMITS)


# Anything at all in a file: loaded, or one line.

@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(at=st.integers(0, len(GOOD.encode())), junk=st.one_of(
    st.binary(max_size=40), st.text(max_size=40).map(str.encode),
    st.sampled_from([b"[[[[[[[[[[[[", b"\xff", b"= 1e999", b"9" * 500, b"\x1b[2J", b'"\n"',
                     "\u202e\u200b".encode(), b"\nx = {a = {b = {c = 1}}}\n"])))
def test_any_file_loads_or_is_refused_in_one_line(at, junk):
    data = preset_text().encode()
    with tempfile.TemporaryDirectory() as directory:
        write_preset(Path(directory), data[:at] + junk + data[at:])
        try:
            load_catalog([Path(directory)])
        except ProfileError as refused:
            assert_one_safe_line(str(refused))
            assert str(refused).startswith(str(Path(directory)))


def test_files_are_only_read(tmp_path):
    path = write_preset(tmp_path, preset_text())
    os.chmod(path, stat.S_IRUSR)
    os.chmod(tmp_path, stat.S_IRUSR | stat.S_IXUSR)
    try:
        assert load_catalog([tmp_path]).preset("custom-one")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["custom-one.toml"]
    finally:
        os.chmod(tmp_path, stat.S_IRWXU)


def test_the_documented_limits_are_the_codes():
    text = (REPO / "docs" / "presets.md").read_text(encoding="utf-8")
    assert FILE_LIMITS == FileLimits(max_file_bytes=65_536, max_dir_entries=256, max_nesting=8)
    assert NUMBER_MAX == 1_000_000
    for words in ("64 KiB (65,536 bytes)", "at most 256 entries", "8 tables or arrays",
                  "at most 200\ncharacters", "may exceed 1,000,000"):
        assert words in text, words
