"""The installed `tts-router` console script, run as a user would run it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tts_router import decode_audio
from tts_router.audio import OUTPUT_LIMITS
from tts_router.testing import make_reference_wav

# The console script installed beside this interpreter, as `uv sync` installs it.
EXE = shutil.which("tts-router", path=str(Path(sys.executable).parent))


def _run(*args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    assert EXE, "the tts-router console script is not installed"
    base = {k: v for k, v in os.environ.items() if not k.startswith("TTS_")}
    base.update({"TTS_ROUTER_PLUGINS": "fixture_good", "TTS_ROUTER_TEST_FIXTURES": "1"})
    base.update(env)
    return subprocess.run(
        [EXE, *args], check=False, input=stdin, capture_output=True, text=True, env=base, timeout=60
    )


@pytest.fixture
def reference(tmp_path: Path) -> Path:
    path = tmp_path / "ref.wav"
    path.write_bytes(make_reference_wav())
    return path


def test_providers_lists_capabilities_and_broken_plugins() -> None:
    ok = _run("providers")
    assert ok.returncode == 0
    assert "entry-point-fake 0.0.1" in ok.stdout and "status:     ready" in ok.stdout
    everything = _run("providers", TTS_ROUTER_PLUGINS="")
    assert "plugin 'fixture_broken' failed to load" in everything.stderr
    assert everything.returncode == 0


def test_plugins_command_fails_when_a_plugin_is_broken() -> None:
    assert _run("plugins").returncode == 0
    assert _run("plugins", TTS_ROUTER_PLUGINS="").returncode == 1


def test_explain_prints_the_choice_first_then_why() -> None:
    out = _run("explain", "clone", "--language", "en-US", "--transcript", "hi")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert lines[0] == "entry-point-fake" and "uses the transcript" in lines[1]


def test_clone_writes_a_wav_reading_text_from_stdin(tmp_path: Path, reference: Path) -> None:
    target = tmp_path / "deep" / "out.wav"
    out = _run(
        "clone",
        "--text",
        "-",
        "--reference",
        str(reference),
        "--language",
        "de",
        "-o",
        str(target),
        stdin="Guten Tag. Wie geht es Ihnen?",
    )
    assert out.returncode == 0, out.stderr
    decoded = decode_audio(target.read_bytes(), OUTPUT_LIMITS)
    assert decoded.duration > 0.3 and f"wrote {target}" in out.stdout


def test_design_writes_a_wav(tmp_path: Path) -> None:
    target = tmp_path / "d.wav"
    out = _run("design", "--text", "Hello", "--instruct", "calm", "-o", str(target))
    assert out.returncode == 0 and target.stat().st_size > 44


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (("explain", "clone", "--language", "klingon"), "unknown language"),
        (("explain", "design", "--provider", "nope"), "not installed"),
        (("languages", "--provider", "nope"), "no provider 'nope'"),
    ],
)
def test_errors_are_one_line_and_exit_2(args: tuple[str, ...], needle: str) -> None:
    out = _run(*args)
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and needle in out.stderr and "Traceback" not in out.stderr


def test_secret_text_never_reaches_the_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    out = _run("clone", "--text", "my private words", "--reference", str(bad), "-o", "x.wav")
    assert out.returncode == 2 and "could not be decoded" in out.stderr
    assert "private" not in out.stderr + out.stdout


def test_missing_reference_file_is_a_clean_error(tmp_path: Path) -> None:
    out = _run("clone", "--text", "hi", "--reference", str(tmp_path / "no.wav"), "-o", "x.wav")
    assert (
        out.returncode == 1 and "FileNotFoundError" in out.stderr and "Traceback" not in out.stderr
    )


def test_languages_and_doctor_mask_secrets(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[providers.qwen]\nmodal_secret = "wk-supersecret"\n')
    langs = _run("languages")
    assert "en\tEnglish" in langs.stdout
    doctor = _run("doctor", TTS_ROUTER_CONFIG=str(config))
    assert doctor.returncode == 0 and '"modal_secret": "***"' in doctor.stdout
    assert "wk-supersecret" not in doctor.stdout + doctor.stderr
    assert "entry-point-fake: ok" in doctor.stdout
