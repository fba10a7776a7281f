"""The CLI's output formats and ``--stream``, on the real eSpeak NG provider."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

TEXT = "Hello there. This is a streamed test, in several sentences. And one more to end it."
BIN = Path(sys.executable).parent / "tts-router"


def _run(*args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "TTS_ROUTER_PLUGINS": "espeak"}
    return subprocess.run(
        [str(BIN), "design", "--text", TEXT, "--instruct", "a calm voice", "--language", "en",
         *args],
        capture_output=True, env=env, timeout=120, check=False,
    )  # fmt: skip


@pytest.mark.parametrize("suffix", [".wav", ".flac", ".mp3", ".ogg"])
def test_the_output_suffix_picks_the_format(tmp_path: Path, suffix: str) -> None:
    target = tmp_path / f"out{suffix}"
    run = _run("-o", str(target), "--sample-rate", "16000")
    assert run.returncode == 0, run.stderr
    samples, rate = sf.read(target)
    assert rate == 16_000 and len(samples) / rate > 2.0  # Opus encodes 16 kHz natively


def test_stream_writes_a_playable_wav_to_stdout_and_the_file_too(tmp_path: Path) -> None:
    target = tmp_path / "whole.flac"
    run = _run("--stream", "-o", str(target))
    assert run.returncode == 0, run.stderr
    assert b"streaming wav at 22050 Hz" in run.stderr
    header, pcm = run.stdout[:44], run.stdout[44:]
    assert header[:4] == b"RIFF" and header[8:16] == b"WAVEfmt "
    streamed = np.frombuffer(pcm, "<i2").astype(np.float32) / 32768
    whole, rate = sf.read(target)
    assert rate == 22_050 and abs(len(streamed) - len(whole)) < 0.05 * rate  # crossfades only
    assert np.max(np.abs(streamed)) > 0.05


def test_stream_pcm_is_raw_samples(tmp_path: Path) -> None:
    run = _run("--stream", "--format", "pcm", "--sample-rate", "8000")
    assert run.returncode == 0 and b"pcm at 8000 Hz" in run.stderr
    samples = np.frombuffer(run.stdout, "<i2")
    assert len(samples) / 8000 > 2.0 and not run.stdout.startswith(b"RIFF")


def test_unknown_suffix_and_no_destination_are_typed_errors(tmp_path: Path) -> None:
    assert b"cannot tell an audio format from '.xyz'" in _run("-o", str(tmp_path / "a.xyz")).stderr
    nowhere = _run()
    assert nowhere.returncode == 2 and b"-o FILE, or --stream" in nowhere.stderr


def test_explain_detects_the_text_s_language_and_languages_lists_who_speaks_what(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tts_router.cli import main

    monkeypatch.setenv("TTS_ROUTER_PLUGINS", "espeak")
    assert main(["explain", "design", "--text", "Guten Morgen, wie geht es Ihnen heute?"]) == 0
    assert "detected 'de' (German) from the text" in capsys.readouterr().out
    assert main(["languages"]) == 0
    rows = [line.split("\t") for line in capsys.readouterr().out.splitlines()]
    assert rows[0] == ["auto", "Auto", "approximate", "espeak"]
    assert ["de", "German", "approximate", "espeak"] in rows


def test_stream_opus_to_stdout_is_one_ogg_file(tmp_path: Path) -> None:
    run = _run("--stream", "--format", "opus")
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith(b"OggS") and b"opus at 48000 Hz" in run.stderr
    target = tmp_path / "streamed.ogg"
    target.write_bytes(run.stdout)
    samples, rate = sf.read(target)
    assert rate == 48_000 and len(samples) / rate > 2.0


def test_a_terminal_gets_a_progress_bar_and_a_pipe_gets_none(tmp_path: Path) -> None:
    import pty

    text = " ".join([TEXT] * 4)  # a short first chunk, then the rest: several chunks
    command = [str(BIN), "design", "--text", text, "--instruct", "calm", "--language", "en"]
    env = {**os.environ, "TTS_ROUTER_PLUGINS": "espeak"}
    primary, secondary = pty.openpty()
    target = tmp_path / "out.wav"
    run = subprocess.run(
        [*command, "-o", str(target)], stderr=secondary, stdout=subprocess.PIPE, env=env,
        timeout=120, check=False,
    )  # fmt: skip
    os.close(secondary)
    shown = b""
    with contextlib.suppress(OSError):  # EIO once everything written has been read
        while chunk := os.read(primary, 4096):
            shown += chunk
    os.close(primary)
    assert run.returncode == 0 and sf.info(target).duration > 4.0
    bars = [line for line in shown.split(b"\r") if b" chunks, " in line]
    assert bars and bars[-1].startswith(b"[" + b"#" * 24 + b"]")  # reaches 100%
    assert b"s left" in bars[0]
    piped = subprocess.run(
        [*command, "-o", str(tmp_path / "piped.wav")], capture_output=True, env=env, timeout=120,
        check=False,
    )  # fmt: skip
    assert piped.returncode == 0 and b"chunks" not in piped.stderr + piped.stdout
