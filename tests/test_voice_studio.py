"""Voice Studio's API (examples/voice_studio) without a browser: library errors become the
error table's HTTP statuses, long texts run as jobs with progress, voices and generations are
kept in SQLite. FakeProviders stand in for speech (the browser test uses real ones)."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tts_router import ProviderUnavailableError, Router, Settings, decode_audio
from tts_router.audio import OUTPUT_LIMITS
from tts_router.testing import FakeProvider, fake_capabilities, make_reference_wav

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples" / "voice_studio"))
from voice_studio import create_app

GERMAN = "Der Zug nach Hamburg fährt heute mit zehn Minuten Verspätung ab."


def _client(tmp_path: Path, *providers: FakeProvider, env: dict[str, str] | None = None) -> Any:
    router = Router(providers=list(providers), settings=Settings.load(env or {}))
    return TestClient(create_app(tmp_path, router=router))


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider(caps=fake_capabilities(languages=("auto", "en", "de"), max_text_chars=300))


@pytest.fixture
def client(tmp_path: Path, fake: FakeProvider) -> Iterator[Any]:
    with _client(tmp_path, fake) as opened:
        yield opened


def _clone(client: Any, audio: bytes, **form: str) -> Any:
    data = {"name": "Me", "transcript": "Hello, this is me.", "language": "en", **form}
    return client.post("/api/clone", data=data, files={"audio": ("me.wav", audio)})


def _wait(client: Any, job_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while True:
        job: dict[str, Any] = client.get(f"/api/jobs/{job_id}").json()
        if job["status"] in ("done", "failed") or time.monotonic() > deadline:
            return job
        time.sleep(0.05)


def test_clone_then_generate_in_parts_with_progress(client: Any, fake: FakeProvider) -> None:
    voice = _clone(client, make_reference_wav(seconds=2.0))
    assert voice.status_code == 201 and voice.json()["transcript"] == "Hello, this is me."
    text = " ".join([GERMAN] * 20)  # ~1,300 characters: three parts of at most 600
    started = client.post(
        "/api/generate", json={"voice_id": voice.json()["id"], "text": text, "language": "auto"}
    )
    assert started.status_code == 202 and started.json()["provider"] == "fake"
    job = _wait(client, started.json()["job_id"])
    assert job["status"] == "done" and job["done"] == job["total"] == 3
    generation = job["generation"]
    assert (generation["language"], generation["language_detected"]) == ("de", True)
    assert {c.language for c in fake.calls} == {"de"}  # one language for every part
    assert generation["reasons"][0].startswith("language: detected 'de' (German)")
    audio = client.get(generation["audio_url"])
    assert audio.headers["content-type"] == "audio/wav"
    assert decode_audio(audio.content, OUTPUT_LIMITS).duration == pytest.approx(
        generation["duration"], abs=0.01
    )
    assert client.get("/api/generations").json()[0]["id"] == generation["id"]


@pytest.mark.parametrize(
    ("audio", "form", "status", "code"),
    [
        (make_reference_wav(seconds=0.4), {}, 400, "audio_too_short"),
        (b"this is not audio at all", {}, 415, "audio_unreadable"),
        (make_reference_wav(seconds=2.0), {"language": "Klingon"}, 400, "unsupported_language"),
    ],
)
def test_upload_errors_carry_the_tables_status(
    client: Any, audio: bytes, form: dict[str, str], status: int, code: str
) -> None:
    answer = _clone(client, audio, **form)
    assert answer.status_code == status and answer.json()["error"]["code"] == code
    assert client.get("/api/voices").json() == []


def test_generation_errors_carry_the_tables_status(tmp_path: Path) -> None:
    english = FakeProvider(
        provider_id="echo",
        caps=fake_capabilities(operations=("clone",), languages=("en",), clone_modes=("audio",)),
    )
    with _client(tmp_path, english, env={"TTS_PROVIDER": "echo"}) as client:
        voice = _clone(client, make_reference_wav(seconds=2.0)).json()
        refused = client.post("/api/generate", json={"voice_id": voice["id"], "text": GERMAN})
        assert refused.status_code == 400
        error = refused.json()["error"]
        assert error["code"] == "unsupported_language" and "German" in error["message"]
        english.failures.append(ProviderUnavailableError("down", provider="echo"))
        started = client.post(
            "/api/generate", json={"voice_id": voice["id"], "text": "Hello there, my friend."}
        )
        job = _wait(client, started.json()["job_id"])
        assert job["status"] == "failed"
        assert (job["error"]["code"], job["error"]["status"]) == ("provider_unavailable", 503)
    with _client(tmp_path / "none") as client:
        assert client.get("/api/languages").json() == []
        voice = _clone(client, make_reference_wav(seconds=2.0)).json()
        none = client.post("/api/generate", json={"voice_id": voice["id"], "text": "Hello."})
        assert none.status_code == 422 and none.json()["error"]["code"] == "no_provider"


def test_design_a_voice_and_keep_it(client: Any) -> None:
    preview = client.post(
        "/api/design", json={"text": "Hello there.", "instruct": "calm", "language": "en"}
    )
    assert preview.status_code == 200 and preview.json()["mode"] == "design"
    kept = client.post(
        "/api/voices/from-generation",
        json={"generation_id": preview.json()["id"], "name": "Calm"},
    )
    assert kept.status_code == 201 and kept.json()["transcript"] == "Hello there."
    languages = client.get("/api/languages", params={"operation": "design"}).json()
    assert [o["code"] for o in languages] == ["auto", "en", "de"]
    page = client.get("/design")
    assert page.headers["content-type"].startswith("text/html")
    # The shell around the page's own <main>: its title, its nav entry marked, one main.
    assert "<title>Design a voice · Voice Studio</title>" in page.text
    assert '<a href="/design" class="here">Design</a>' in page.text
    assert '<a href="/clone">Clone</a>' in page.text
    assert page.text.count("<main>") == 1 and 'id="design-form"' in page.text
