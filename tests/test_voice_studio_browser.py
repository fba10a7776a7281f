"""Voice Studio (examples/voice_studio) in a real headless Chromium, as a person uses it.

Upload a WAV, type its transcript, pick a language, clone; record a reference in the browser
(Chromium's fake microphone: a real MediaRecorder WebM/Opus file); design a voice and keep it;
generate, and check that the page's audio element loads a valid WAV of plausible length. Once
on the eSpeak default and once against a tiny Qwen service on 127.0.0.1, each app started as
``make example`` starts it (its own process, configured by the environment).

Chromium comes from Debian's package (``apt-get install chromium`` when it is missing: browser
downloads are impossible here); Playwright drives it through ``executable_path``. Screenshots of
every page are written to ``out/screenshots/`` (``VOICE_STUDIO_SCREENSHOTS`` overrides).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tts_router import decode_audio
from tts_router.audio import OUTPUT_LIMITS
from tts_router.testing import make_reference_wav

ROOT = Path(__file__).resolve().parents[1]
SCREENSHOTS = Path(os.environ.get("VOICE_STUDIO_SCREENSHOTS", ROOT / "out" / "screenshots"))
TRANSCRIPT = "Hello, this is my voice, recorded for the studio."
SPOKEN = "Good morning! This is my cloned voice, speaking from a web page."

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's Chromium, installed with apt-get if this machine lacks it (CI runs as root)."""
    found = shutil.which("chromium")
    if found:
        return found
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-qq"],
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "chromium"],
    ):
        done = subprocess.run(
            argv, env=env, capture_output=True, text=True, timeout=900, check=False
        )
        if done.returncode:
            pytest.fail(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr[-2000:]}")
    found = shutil.which("chromium")
    if not found:
        pytest.fail("apt-get installed chromium, but no `chromium` is on PATH")
    return found


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium,
            headless=True,
            args=[
                "--no-sandbox",  # root in CI
                "--use-fake-ui-for-media-stream",  # grant the microphone without a prompt
                "--use-fake-device-for-media-stream",  # a synthetic microphone (a beep)
            ],
        )
        yield launched
        launched.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _studio(tmp_path: Path, env: dict[str, str]) -> Iterator[str]:
    """Start Voice Studio as `make example` does; yield its URL."""
    port = _free_port()
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("TTS_", "QWEN_", "ECHO_"))}
    clean["PYTHONPATH"] = os.pathsep.join(
        [str(ROOT / "examples" / "voice_studio"), clean.get("PYTHONPATH", "")]
    )
    argv = [sys.executable, "-m", "voice_studio", "--port", str(port), "--data-dir", tmp_path]
    process = subprocess.Popen(
        [str(a) for a in argv],
        env={**clean, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(url + "/api/providers", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                output = process.stdout.read() if process.stdout else ""
                pytest.fail(f"Voice Studio did not start:\n{output[-3000:]}")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def _shot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"voice_studio-{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def _clone_by_upload(page: Any, url: str, reference: Path, name: str) -> None:
    page.goto(url + "/clone")
    page.fill("#name", name)
    page.set_input_files("#audio", str(reference))
    page.fill("#transcript", TRANSCRIPT)
    page.select_option("#language", "en")
    page.click("#clone-submit")
    page.wait_for_selector("#clone-result.ok", timeout=30_000)
    assert name in page.inner_text("#voices")


def _generate(page: Any, url: str, voice: str, text: str, language: str) -> dict[str, Any]:
    """Generate on the page; return what the page shows and the WAV its player loaded."""
    page.goto(url + "/generate")
    page.select_option("#voice", label=voice)
    page.fill("#text", text)
    page.select_option("#gen-language", language)
    page.click("#generate-submit")
    page.wait_for_selector("#generate-status.ok, #generate-status.error", timeout=60_000)
    assert "error" not in (page.get_attribute("#generate-status", "class") or ""), page.inner_text(
        "#generate-status"
    )
    page.wait_for_function("document.getElementById('player').readyState >= 1", timeout=20_000)
    src = page.evaluate("document.getElementById('player').currentSrc")
    wav = httpx.get(src, timeout=30).content
    return {
        "element_duration": page.evaluate("document.getElementById('player').duration"),
        "decoded": decode_audio(wav, OUTPUT_LIMITS),
        "facts": {
            key: page.inner_text(f"#facts dd[data-fact='{key}']")
            for key in ("provider", "mode", "quality", "language")
        },
        "reasons": page.inner_text("#reasons"),
    }


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda exc: errors.append(str(exc)))
    yield opened
    context.close()
    assert not errors, f"the page raised JavaScript errors: {errors}"


def test_on_espeak_upload_record_design_and_generate(page: Any, tmp_path: Path) -> None:
    reference = tmp_path / "me.wav"
    reference.write_bytes(make_reference_wav(seconds=2.5, sample_rate=22_050))
    for url in _studio(tmp_path / "data", {}):
        assert "espeak" in httpx.get(url + "/api/providers").text
        _clone_by_upload(page, url, reference, "Uploaded voice")

        # A reference recorded in the browser: MediaRecorder's WebM/Opus, accepted as is.
        page.click("#record-start")
        page.wait_for_timeout(2_000)
        page.click("#record-stop")
        page.wait_for_selector("#record-state.ok")
        assert "webm" in page.inner_text("#record-state")
        page.fill("#name", "Recorded voice")
        page.fill("#transcript", "")
        page.click("#clone-submit")
        page.wait_for_selector("#clone-result.ok", timeout=30_000)
        _shot(page, "espeak-clone")

        page.goto(url + "/design")
        page.fill("#instruct", "a warm, low female voice, speaking slowly")
        page.select_option("#design-language", "en")
        page.click("#design-submit")
        page.wait_for_selector("#design-status.ok", timeout=30_000)
        page.fill("#design-name", "Designed voice")
        page.click("#save-voice")
        page.wait_for_selector("#save-result.ok")
        _shot(page, "espeak-design")

        shown = _generate(page, url, "Uploaded voice", SPOKEN, "auto")
        _shot(page, "espeak-generate")
        decoded = shown["decoded"]
        assert shown["facts"]["provider"].startswith("espeak")
        assert shown["facts"]["language"] == "en (detected)"
        assert "detected 'en' (English)" in shown["reasons"]
        # eSpeak speaks at the reference's rate (transcript characters per second): speech,
        # not a blip or minutes of noise.
        assert 5 < len(SPOKEN) / decoded.duration < 40
        assert abs(shown["element_duration"] - decoded.duration) < 0.05

        recorded = _generate(page, url, "Recorded voice", "Bonjour à tous.", "fr")
        assert recorded["facts"]["language"] == "fr" and recorded["decoded"].duration > 0.5


@pytest.fixture(scope="module")
def qwen_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The tiny Qwen service (Base + VoiceDesign random models) on 127.0.0.1."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from tts_router_qwen_modal.fixtures import build_tiny_model
    from tts_router_qwen_modal.service import create_service_app

    from tts_router.serving import serve_in_thread

    root = tmp_path_factory.mktemp("qwen-tiny")
    app = create_service_app(
        build_tiny_model(root / "base", early_eos=True),
        build_tiny_model(root / "design", variant="voice_design", early_eos=True),
        engine_options={"device": "cpu", "max_new_tokens": 64, "min_seconds_per_char": 0.005},
    )
    with serve_in_thread(app) as url:
        yield url


def test_against_a_tiny_qwen_service(page: Any, tmp_path: Path, qwen_service: str) -> None:
    reference = tmp_path / "me.wav"
    reference.write_bytes(make_reference_wav(seconds=1.5, sample_rate=24_000))
    env = {
        "TTS_PROVIDER": "qwen",
        "QWEN_MODAL_URL": qwen_service,
        "QWEN_MODAL_DESIGN_URL": qwen_service,
    }
    for url in _studio(tmp_path / "data", env):
        _clone_by_upload(page, url, reference, "Qwen voice")
        _shot(page, "qwen-clone")

        page.goto(url + "/design")
        page.fill("#instruct", "a calm, deep voice")
        page.click("#design-submit")
        page.wait_for_selector("#design-status.ok", timeout=60_000)
        assert "qwen" in page.inner_text("#design-facts")
        _shot(page, "qwen-design")

        shown = _generate(page, url, "Qwen voice", SPOKEN, "auto")
        _shot(page, "qwen-generate")
        assert shown["facts"]["provider"].startswith("qwen")
        assert shown["facts"]["mode"] == "icl" and shown["facts"]["quality"] == "reference"
        assert shown["facts"]["language"] == "en (detected)"
        assert "chosen explicitly (TTS_PROVIDER)" in shown["reasons"]
        # The tiny random model stops early: a fraction of a second of noise, 24 kHz.
        assert shown["decoded"].sample_rate == 24_000 and shown["decoded"].duration > 0.1
        assert abs(shown["element_duration"] - shown["decoded"].duration) < 0.05
