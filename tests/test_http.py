"""The resilient client against a real service on 127.0.0.1, with faults injected on the wire
(faultproxy) and in the HTTP answers (scripted middleware)."""

from __future__ import annotations

import asyncio
import base64
import logging
import time
from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from core_support.faultproxy import FaultProxy
from core_support.latency_service import free_port
from core_support.scripted import Reply, scripted_service
from core_support.tone_service import RATE, Service, ToneRemote, reference_wav, sha

from tts_router import (
    AuthenticationError,
    CloneRequest,
    OutputValidationError,
    ProviderError,
    ProviderUnavailableError,
    Router,
    Settings,
    VoiceReference,
)
from tts_router.audio import encode_wav
from tts_router.client_options import CircuitOptions, RetryOptions, Timeouts
from tts_router.http import ServiceClient
from tts_router.protocol import CloneBody
from tts_router.remote import ModalProxyAuth, ServiceConfig
from tts_router.testing import FakeProvider, fake_capabilities

REF = reference_wav()
VOICE = sha(REF)
SECRET_TEXT = "the quiet velvet password story"
TRANSCRIPT = "a transcript that must not leak"
AUTH = ModalProxyAuth(key="mk-do-not-log-1234", secret="ms-do-not-log-5678")
FAST = RetryOptions(max_attempts=6, initial_backoff=0.05, max_backoff=0.2, deadline=30)
ERROR = b'{"error": {"code": "x", "message": "y"}}'


@pytest.fixture(autouse=True)
def _no_secrets_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every log record of every test here (client, service, httpx, uvicorn) at DEBUG."""
    caplog.set_level(logging.DEBUG)
    yield
    records = [r for when in ("setup", "call") for r in caplog.get_records(when)]  # type: ignore[arg-type]
    assert records, "nothing was logged: the scan would prove nothing"
    text = "\n".join(f"{r.name} {r.getMessage()} {r.args!r}" for r in records)
    for needle in (
        SECRET_TEXT,
        TRANSCRIPT,
        AUTH.key,
        AUTH.secret,
        base64.b64encode(REF).decode()[100:160],
    ):
        assert str(needle) not in text


def _client(url: str, **kwargs: object) -> ServiceClient:
    options: dict[str, object] = {"retry": FAST, "auth": AUTH, **kwargs}
    return ServiceClient(url, provider="tone", **options)  # type: ignore[arg-type]


def _body(text: str = SECRET_TEXT) -> CloneBody:
    return CloneBody(text=text, language="en", voice_id=VOICE, transcript=TRANSCRIPT)


async def _upload(service: Service) -> None:
    client = _client(service.url)
    await client.ensure_voice(VOICE, REF)
    await client.aclose()


# -- transient faults end in success, as one logical job ----------------------------------------


async def test_connection_refused_then_up(make_service: object) -> None:
    port = free_port()
    client = _client(
        f"http://127.0.0.1:{port}",
        retry=RetryOptions(max_attempts=10, initial_backoff=0.2, max_backoff=0.5, deadline=30),
    )
    job = asyncio.create_task(client.clone(_body(), reference=REF))
    await asyncio.sleep(0.4)
    service: Service = make_service(port=port)  # type: ignore[operator]
    result = await job
    assert result.mode == "icl" and service.jobs == 1
    await client.aclose()


async def test_reset_mid_response_is_retried_without_a_second_job(make_service: object) -> None:
    service: Service = make_service()  # type: ignore[operator]
    await _upload(service)
    with FaultProxy(int(service.url.rsplit(":", 1)[1])) as proxy:
        proxy.then("reset_mid_response")
        client = _client(proxy.url)
        result = await client.clone(_body())
        await client.aclose()
    assert result.wav and service.jobs == 1
    assert service.app.state.stats.idempotent_replays == 1
    assert proxy.connections == 2


async def test_slow_first_byte_times_out_then_replays(make_service: object) -> None:
    service: Service = make_service()  # type: ignore[operator]
    await _upload(service)
    with FaultProxy(int(service.url.rsplit(":", 1)[1])) as proxy:
        proxy.plan.delay = 1.5
        proxy.then("slow_first_byte")
        client = _client(proxy.url, timeouts=Timeouts(read=0.5))
        result = await client.clone(_body())
        await client.aclose()
    assert result.wav and service.jobs == 1


@pytest.mark.parametrize(
    ("replies", "min_seconds"),
    [
        ([Reply(503, {"retry-after": "0.3"}, ERROR)] * 2, 0.6),
        ([Reply(500, {}, ERROR)] * 3, 0.0),
        ([Reply(502), Reply(504), Reply(408)], 0.0),
    ],
)
async def test_service_errors_are_retried_with_one_key(
    make_service: object, replies: list[Reply], min_seconds: float
) -> None:
    service, script = scripted_service(make_service)
    await _upload(service)
    script.then("POST", "/clone", *replies)
    client = _client(service.url)
    started = time.monotonic()
    result = await client.clone(_body())
    assert time.monotonic() - started >= min_seconds
    assert result.wav and service.jobs == 1
    keys = {key for method, path, key in script.seen if path == "/clone"}
    assert script.count("POST", "/clone") == len(replies) + 1 and len(keys) == 1
    await client.aclose()


# -- the caller's mistakes are raised at once --------------------------------------------------


@pytest.mark.parametrize("status", [400, 401, 403, 413, 422])
async def test_client_errors_are_not_retried(make_service: object, status: int) -> None:
    service, script = scripted_service(make_service)
    await _upload(service)
    script.then("POST", "/clone", Reply(status, {"content-type": "application/json"}, ERROR))
    client = _client(service.url)
    with pytest.raises(ProviderError) as info:
        await client.clone(_body())
    assert script.count("POST", "/clone") == 1 and info.value.status == status
    assert not info.value.retryable
    if status in (401, 403):
        assert isinstance(info.value, AuthenticationError)
        assert "the credentials were refused; check" in str(info.value)
    assert AUTH.key not in str(info.value) and AUTH.secret not in repr(info.value)
    await client.aclose()


# -- Modal's 303 to a result URL -------------------------------------------------------------


async def test_303_twice_then_200_is_followed_with_get(make_service: object) -> None:
    service, script = scripted_service(make_service)
    await _upload(service)
    script.redirect_hops = 2
    client = _client(service.url)
    result = await client.clone(_body())
    await client.aclose()
    clone_calls = [(m, p) for m, p, _ in script.seen if p in ("/clone", "/__results/0")]
    assert clone_calls == [("POST", "/clone"), ("GET", "/__results/0"), ("GET", "/__results/0")]
    keys = {k for _, p, k in script.seen if p in ("/clone", "/__results/0")}
    assert len(keys) == 1 and None not in keys
    assert result.wav and service.jobs == 1


async def test_303_to_another_host_is_refused_and_it_hears_nothing(make_service: object) -> None:
    service, script = scripted_service(make_service)
    evil, evil_script = scripted_service(make_service)
    await _upload(service)
    script.then("POST", "/clone", Reply(303, {"location": f"{evil.url}/steal"}))
    client = _client(service.url)
    with pytest.raises(ProviderError) as info:
        await client.clone(_body())
    assert info.value.code == "redirect_refused"
    assert [path for _, path, _ in evil_script.seen if path != "/health"] == []  # only our probe
    await client.aclose()


async def test_endless_redirects_end_with_a_typed_error(make_service: object) -> None:
    service, script = scripted_service(make_service)
    await _upload(service)
    script.then("POST", "/clone", Reply(303, {"location": "/loop"}))
    script.then("GET", "/loop", *[Reply(303, {"location": "/loop"})] * 20)
    client = _client(service.url, retry=RetryOptions(max_redirects=5, initial_backoff=0.01))
    with pytest.raises(ProviderError) as info:
        await client.clone(_body())
    assert info.value.code == "too_many_redirects" and script.count("GET", "/loop") == 5
    await client.aclose()


# -- a 200 must be audio -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "error", "code"),
    [
        (
            Reply(200, {"content-type": "text/html"}, b"<html>login</html>"),
            ProviderError,
            "unexpected_content_type",
        ),
        (Reply(200, {"content-type": "audio/wav"}, b""), OutputValidationError, "output_empty"),
        (
            Reply(200, {"content-type": "audio/wav"}, encode_wav(np.zeros(RATE), RATE)),
            OutputValidationError,
            "output_silent",
        ),
    ],
)
async def test_a_200_that_is_not_audio_is_an_error(
    make_service: object, reply: Reply, error: type[Exception], code: str
) -> None:
    service, script = scripted_service(make_service)
    await _upload(service)
    script.then("POST", "/clone", reply, reply)
    client = _client(service.url, retry=RetryOptions(max_attempts=2, initial_backoff=0.01))
    with pytest.raises(error) as info:
        await client.clone(_body())
    assert getattr(info.value, "code", None) == code
    assert script.count("POST", "/clone") == 2  # retried once: a proxy page may be transient
    await client.aclose()


# -- load, health, and uploads -----------------------------------------------------------------


async def test_twenty_concurrent_jobs_against_a_429_limit_all_complete(
    make_service: object,
) -> None:
    service, script = scripted_service(make_service)
    await _upload(service)
    script.max_in_flight = 4
    service.engine.delay = 0.05
    client = _client(
        service.url,
        retry=RetryOptions(max_attempts=40, initial_backoff=0.02, max_backoff=0.2, deadline=60),
    )
    results = await asyncio.gather(*(client.clone(_body(f"job {i}")) for i in range(20)))
    assert len(results) == 20 and service.jobs == 20
    assert script.peak_in_flight <= 4 and script.count("POST", "/clone") > 20  # some got 429
    await client.aclose()


async def test_reference_is_uploaded_once_across_many_clones(make_service: object) -> None:
    service, script = scripted_service(make_service)
    with FaultProxy(int(service.url.rsplit(":", 1)[1])) as proxy:
        client = _client(proxy.url)
        for i in range(3):
            await client.clone(_body(f"sequential {i}"), reference=REF)
        await asyncio.gather(*(client.clone(_body(f"c {i}"), reference=REF) for i in range(5)))
        await client.aclose()
    assert script.count("PUT", f"/voices/{VOICE}") == 1
    assert script.count("HEAD", f"/voices/{VOICE}") == 1
    assert proxy.bytes_from_clients < 1.5 * len(REF)  # the audio crossed the wire once


async def test_a_forgotten_voice_is_uploaded_again_once(make_service: object) -> None:
    service, script = scripted_service(make_service)
    client = _client(service.url)
    await client.clone(_body(), reference=REF)
    script.then("POST", "/clone", Reply(404, {}, b'{"error": {"code": "voice_not_found"}}'))
    await client.clone(_body("again"), reference=REF)
    assert script.count("PUT", f"/voices/{VOICE}") == 2 and service.jobs == 2
    await client.aclose()


async def test_circuit_opens_router_moves_on_then_half_opens() -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    remote = ToneRemote(
        ServiceConfig(
            clone_url=dead,
            retry=RetryOptions(max_attempts=1),
            circuit=CircuitOptions(failures=2, reset_after=0.5),
        )
    )
    backup = FakeProvider(provider_id="backup", caps=fake_capabilities(clone_modes=("audio",)))
    router = Router(providers=[remote, backup], settings=Settings.load({}))
    request = CloneRequest(
        text="hi", language="en", reference=VoiceReference(audio=REF, transcript=TRANSCRIPT)
    )
    for _ in range(2):
        result = await router.clone(request)
        assert result.provider == "backup" and result.fallback_from == ("tone-remote",)
    assert not remote.available
    decision = router.explain("clone", "en", has_transcript=True)
    assert (
        decision.provider == "backup" and "tone-remote: skipped, circuit open" in decision.reasons
    )
    skipped = await router.clone(request)  # not tried at all, and the result says so
    assert skipped.fallback_from == ("tone-remote",)
    assert any("skipped tone-remote: its circuit is open" in w for w in skipped.warnings)
    await asyncio.sleep(0.6)
    assert remote.available and router.explain("clone", "en", has_transcript=True).provider == (
        "tone-remote"
    )
    alone = Router(providers=[remote], settings=Settings.load({}))
    # the half-open trial failed: open again
    remote.client("clone").circuit.record_failure("could not reach it: connection refused")
    with pytest.raises(ProviderUnavailableError) as info:
        await alone.clone(request)
    assert info.value.code == "circuit_open"
    await router.aclose()


async def test_health_probes_try_twice_not_the_full_job_policy(
    caplog: pytest.LogCaptureFixture,
) -> None:
    client = _client(f"http://127.0.0.1:{free_port()}")  # FAST allows 6 attempts for jobs
    with pytest.raises(ProviderUnavailableError):
        await client.health()
    attempts = [r for r in caplog.records if r.getMessage().startswith("GET /health failed")]
    assert len(attempts) == 2
    await client.aclose()


# -- vendor auth is an httpx.Auth ------------------------------------------------------------


async def test_modal_proxy_auth_rides_on_every_request_and_shows_no_secret() -> None:
    """The client knows no vendor: ModalProxyAuth adds its headers to each request it sends,
    the 303's GET included; its repr masks both values; equal auths are equal by value."""
    seen: list[tuple[str, str | None, str | None]] = []

    def service(request: httpx.Request) -> httpx.Response:
        headers = request.headers
        seen.append((request.url.path, headers.get("modal-key"), headers.get("modal-secret")))
        if request.url.path == "/info":
            return httpx.Response(303, headers={"location": "/result"})
        return httpx.Response(200, json={"ok": True})

    client = _client("http://127.0.0.1:9", transport=httpx.MockTransport(service))
    assert await client.get_json("info") == {"ok": True}
    await client.aclose()
    assert seen == [(path, AUTH.key, AUTH.secret) for path in ("/info", "/result")]
    assert repr(AUTH) == "ModalProxyAuth(key='***', secret='***')"
    assert AUTH == ModalProxyAuth(AUTH.key, AUTH.secret) != ModalProxyAuth(AUTH.key, "other")
    assert isinstance(AUTH, httpx.Auth)
    assert hash(AUTH) == hash(ModalProxyAuth(AUTH.key, AUTH.secret))
