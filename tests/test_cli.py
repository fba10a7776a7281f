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
# The test plugins (tests/plugin_fixtures), visible to the console script through PYTHONPATH.
pytestmark = pytest.mark.usefixtures("fixture_plugins")


def _run(
    *args: str, stdin: str | None = None, cwd: Path | None = None, **env: str
) -> subprocess.CompletedProcess[str]:
    assert EXE, "the tts-router console script is not installed"
    return subprocess.run(
        [EXE, *args],
        check=False,
        input=stdin,
        capture_output=True,
        text=True,
        env=_clean_env(TTS_ROUTER_PLUGINS="fixture_good") | env,
        cwd=cwd,
        timeout=60,
    )


def _clean_env(**env: str) -> dict[str, str]:
    """This environment without its ``TTS_*`` settings, plus ``env``."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TTS_")} | env


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
    assert "plugin fixture_broken (tts-router-plugin-fixtures 0.0.1)\n" in everything.stdout
    assert "  status:     broken: ImportError: fixture_broken is broken" in everything.stdout
    assert everything.returncode == 0 and everything.stderr == ""


def test_plugins_command_fails_when_a_plugin_is_broken() -> None:
    assert _run("plugins").returncode == 0
    assert _run("plugins", TTS_ROUTER_PLUGINS="fixture_good,fixture_broken").returncode == 1


def test_explain_prints_the_choice_first_then_why() -> None:
    out = _run("explain", "clone", "--language", "en-US", "--transcript", "hi")
    assert out.returncode == 0
    lines = out.stdout.splitlines()
    assert lines[0] == "entry-point-fake" and "uses the transcript" in lines[1]


def test_clone_writes_a_wav_reading_text_from_stdin(tmp_path: Path, reference: Path) -> None:
    target = tmp_path / "deep" / "out.wav"
    args = ["--text", "-", "--reference", str(reference), "--language", "de", "-o", str(target)]
    out = _run("clone", *args, stdin="Guten Tag. Wie geht es Ihnen?")
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


def test_os_errors_name_the_path_and_exit_1(tmp_path: Path, reference: Path) -> None:
    out = _run("clone", "--text", "hi", "--reference", "missing.wav", "-o", "x.wav", cwd=tmp_path)
    assert out.returncode == 1
    assert out.stderr == "error: cannot read missing.wav: No such file or directory\n"
    out = _run("clone", "--text", "hi", "--reference", str(tmp_path), "-o", "x.wav")
    assert out.returncode == 1 and out.stderr == f"error: cannot read {tmp_path}: Is a directory\n"
    blocker = tmp_path / "file"
    blocker.write_text("")
    target = blocker / "out.wav"  # its parent is a file
    out = _run("clone", "--text", "hi", "--reference", str(reference), "-o", str(target))
    assert out.returncode == 1 and out.stderr.startswith(f"error: cannot write {target}: ")
    assert "Traceback" not in out.stderr


def test_languages_and_doctor_mask_secrets(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[providers.qwen]\nmodal_secret = "wk-supersecret"\n')
    langs = _run("languages")
    assert "en\tEnglish" in langs.stdout
    doctor = _run("doctor", TTS_ROUTER_CONFIG=str(config))
    assert doctor.returncode == 0 and '"modal_secret": "***"' in doctor.stdout
    assert "wk-supersecret" not in doctor.stdout + doctor.stderr
    assert "entry-point-fake: ok" in doctor.stdout


def test_a_closed_pipe_exits_quietly() -> None:
    # `tts-router providers | head -1`: the reader goes away before the output is written.
    assert EXE
    for command in (["providers"], ["languages"]):
        proc = subprocess.Popen(
            [EXE, *command], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_clean_env()
        )
        assert proc.stdout and proc.stderr
        proc.stdout.close()
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=60) == 141, stderr
        assert stderr == ""


def test_head_reads_the_first_line_and_nothing_complains(tmp_path: Path) -> None:
    assert EXE
    shell = f"set -o pipefail; {EXE} providers 2>err.txt | head -1; echo status=$?; cat err.txt"
    out = subprocess.run(
        ["bash", "-c", shell],
        check=False,
        capture_output=True,
        text=True,
        env=_clean_env(),
        timeout=60,
        cwd=tmp_path,
    )
    lines = out.stdout.splitlines()
    assert len(lines) == 2 and lines[1] in ("status=0", "status=141"), out.stdout


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("explain", "design", "--language", "en", "--provider", "ENTRY-POINT-FAKE"), {}),
        (("explain", "design", "--language", "en"), {"TTS_PROVIDER": "Entry-Point-Fake"}),
        (("explain", "design", "--language", "en", "--provider", "AUTO"), {"TTS_PROVIDER": "AUTO"}),
    ],
)
def test_provider_ids_and_auto_are_case_insensitive(
    args: tuple[str, ...], env: dict[str, str]
) -> None:
    out = _run(*args, **env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.splitlines()[0] == "entry-point-fake"


def test_languages_accepts_any_case() -> None:
    out = _run("languages", "--provider", "Entry-Point-Fake")
    assert out.returncode == 0 and "en\tEnglish" in out.stdout


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (("explain", "design", "--provider", "espeak"), {}),
        (("explain", "design"), {"TTS_PROVIDER": "ESPEAK"}),
        (("languages", "--provider", "espeak"), {}),
        (
            ("design", "--text", "hi", "--instruct", "calm", "--provider", "espeak", "-o", "x.wav"),
            {},
        ),
    ],
)
def test_a_provider_left_out_by_the_allow_list_says_so(
    args: tuple[str, ...], env: dict[str, str]
) -> None:
    out = _run(*args, **env)  # TTS_ROUTER_PLUGINS=fixture_good filters espeak out
    assert out.returncode == 2, out.stdout
    assert "'espeak'" in out.stderr and "filtered by TTS_ROUTER_PLUGINS" in out.stderr
    assert "not installed" not in out.stderr and out.stderr.count("\n") == 1


def test_a_broken_provider_chosen_explicitly_says_why() -> None:
    plugins = "fixture_good,fixture_ctor_raises"
    out = _run("explain", "design", "--provider", "ctor-raises", TTS_ROUTER_PLUGINS=plugins)
    assert out.returncode == 2
    assert out.stderr == (
        "error: --provider names provider 'ctor-raises', which is broken: RuntimeError: boom; "
        "see `tts-router providers`\n"
    )


def test_help_documents_the_exit_codes() -> None:
    out = _run("--help")
    assert out.returncode == 0
    text = out.stdout[out.stdout.index("exit codes:") :]
    for code in ("0", "1", "2", "130", "141"):
        assert f"\n  {code} " in text
