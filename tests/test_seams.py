"""Issue 10: the router's promises at the seams a host app meets.

Fallback when a remote service is down (real sockets), the circuit across jobs, isolation of
every plugin stage (real entry points), capabilities that validate themselves, provider work
off the host's event loop with timeouts, output rules, the router's text limit, timings that
survive the wire, clean tracebacks, and nothing secret in frame locals.
"""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

import numpy as np
import pytest
from core_support.latency_service import free_port
from core_support.scripted import Reply, scripted_service
from core_support.tone_service import RATE, Service, ToneEngine, ToneRemote, reference_wav, sha

from tts_router import (
    CloneRequest,
    DesignRequest,
    Router,
    Settings,
    VoiceReference,
)
from tts_router.audio import OUTPUT_LIMITS, decode_audio
from tts_router.client_options import CircuitOptions, RetryOptions
from tts_router.errors import (
    ConfigurationError,
    OutputValidationError,
    ProvidersFailedError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    TTSRouterError,
    ValidationError,
)
from tts_router.http import ServiceClient
from tts_router.protocol import CloneBody
from tts_router.provider import Capabilities, Provider, Speech
from tts_router.remote import ModalProxyAuth, ServiceConfig
from tts_router.router import probe
from tts_router.testing import FakeProvider, fake_capabilities

REF = reference_wav()
SECRET_TEXT = "the quiet velvet password story"
TRANSCRIPT = "a transcript that must not leak"
AUTH = ModalProxyAuth(key="mk-do-not-log-1234", secret="ms-do-not-log-5678")
FAST = RetryOptions(max_attempts=6, initial_backoff=0.05, max_backoff=0.2, deadline=30)


class Primary(ToneRemote):
    id: ClassVar[str] = "primary"  # type: ignore[misc]


class Secondary(Primary):
    id: ClassVar[str] = "secondary"  # type: ignore[misc]


def _request(text: str = SECRET_TEXT) -> CloneRequest:
    return CloneRequest(
        text=text, language="en", reference=VoiceReference(audio=REF, transcript=TRANSCRIPT)
    )


def _router(*providers: Provider, **env: str) -> Router:
    return Router(providers=providers, settings=Settings.load(env))


def _config(url: str, **kwargs: Any) -> ServiceConfig:
    return ServiceConfig(clone_url=url, auth=AUTH, retry=kwargs.pop("retry", FAST), **kwargs)


# -- fallback when a service is down -----------------------------------------------------------


async def test_closed_url_falls_back_to_the_second_remote_within_the_retry_budget(
    make_service: Any,
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    service: Service = make_service()
    router = _router(Primary(_config(dead)), Secondary(_config(service.url)))
    started = time.monotonic()
    result = await router.clone(_request())
    elapsed = time.monotonic() - started
    await router.aclose()
    assert result.provider == "secondary" and result.fallback_from == ("primary",)
    note = next(w for w in result.warnings if w.startswith("fell back to secondary"))
    assert f"could not reach {dead}: connection refused" in note and "6 attempts" in note
    assert elapsed < FAST.deadline
    print(f"fell back from a closed port in {elapsed:.2f} s (6 attempts, backoff <= 0.2 s)")


async def test_502s_fall_back_and_a_dead_service_names_the_real_cause(
    make_service: Any,
) -> None:
    service, script = scripted_service(make_service)
    script.then("POST", "/clone", *[Reply(502)] * 6)
    backup: Service = make_service()
    router = _router(Primary(_config(service.url)), Secondary(_config(backup.url)))
    result = await router.clone(_request())
    assert result.provider == "secondary" and result.fallback_from == ("primary",)
    assert script.count("POST", "/clone") == 6  # the whole budget, never cut by the circuit

    # Every candidate down: the first line is the first provider's real cause, with its URL.
    dead = f"http://127.0.0.1:{free_port()}"
    both_dead = _router(Primary(_config(dead)), Secondary(_config(dead)))
    with pytest.raises(ProvidersFailedError) as info:
        await both_dead.clone(_request())
    first_line = str(info.value).splitlines()[0]
    assert first_line.startswith(f"primary: could not reach {dead}: connection refused")
    assert [pid for pid, _ in info.value.failures] == ["primary", "secondary"]
    assert all(exc.code == "provider_unavailable" for _, exc in info.value.failures)
    await router.aclose()
    await both_dead.aclose()


async def test_a_job_gets_its_whole_retry_budget_and_the_circuit_counts_jobs(
    make_service: Any,
) -> None:
    service, script = scripted_service(make_service)
    # A clone job: five 502s then success, inside one job (the old circuit opened at five).
    client = ServiceClient(
        service.url, provider="tone", retry=FAST, circuit=CircuitOptions(failures=2)
    )
    script.then("POST", "/clone", *[Reply(502)] * 5)
    body = CloneBody(text="hello", language="en", voice_id=sha(REF), transcript="hi")
    result = await client.clone(body, reference=REF)
    assert result.mode == "icl" and client.circuit.state == "closed"

    # Two failed jobs in a row open it; the error while open names the last real cause.
    dead = ServiceClient(
        f"http://127.0.0.1:{free_port()}",
        provider="tone",
        retry=RetryOptions(max_attempts=2, initial_backoff=0.01, max_backoff=0.02),
        circuit=CircuitOptions(failures=2, reset_after=60),
    )
    for _ in range(2):
        with pytest.raises(ProviderUnavailableError) as info:
            await dead.clone(body)
        assert info.value.code == "provider_unavailable"
    with pytest.raises(ProviderUnavailableError) as info:
        await dead.clone(body)
    assert info.value.code == "circuit_open" and "connection refused" in str(info.value)
    assert info.value.fallback and not info.value.retryable
    await client.aclose()
    await dead.aclose()


async def test_job_specific_failures_never_open_the_circuit(make_service: Any) -> None:
    engine = ToneEngine()
    engine.nan = True  # every answer: 500 output_not_finite, a fault of that output only
    service: Service = make_service(engine)
    remote = Primary(_config(service.url, circuit=CircuitOptions(failures=2)))
    for _ in range(4):
        with pytest.raises(OutputValidationError) as info:
            await remote.clone(_request())
        assert info.value.code == "output_not_finite"  # not "circuit is open"
    assert remote.available
    await remote.aclose()


async def test_back_pressure_is_retried_until_the_deadline_not_a_count(
    make_service: Any,
) -> None:
    service, script = scripted_service(make_service)
    busy = Reply(503, {"retry-after": "0.05"}, b'{"error": {"code": "overloaded", "message": ""}}')
    script.then("POST", "/clone", *[busy] * 12, Reply(429, {"retry-after": "0.05"}))
    remote = Primary(
        _config(
            service.url,
            retry=RetryOptions(max_attempts=2, initial_backoff=0.01, deadline=30),
            circuit=CircuitOptions(failures=1),
        )
    )
    result = await remote.clone(_request())
    assert result.provider == "primary" and script.count("POST", "/clone") == 14
    assert remote.available  # back-pressure is not a failure of the service
    await remote.aclose()


async def test_approximate_fallback_is_reached_when_the_circuit_is_open() -> None:
    real = FakeProvider(provider_id="real", healthy=False)
    approx = FakeProvider(
        provider_id="approx",
        caps=fake_capabilities(clone_modes=("approximate",), quality="approximate"),
    )
    strict = _router(real, approx)
    with pytest.raises(ProviderUnavailableError) as info:
        await strict.clone(_request("Hello."))
    assert info.value.code == "circuit_open"
    allowed = _router(real, approx, TTS_ROUTER_ALLOW_APPROXIMATE_FALLBACK="1")
    result = await allowed.clone(_request("Hello."))
    assert result.provider == "approx" and result.fallback_from == ("real",)
    assert any("circuit is open" in w for w in result.warnings)


# -- isolation at every stage, through real entry points ---------------------------------------


@pytest.mark.usefixtures("fixture_plugins")
async def test_every_broken_stage_is_isolated_and_the_rest_work() -> None:
    router = Router(settings=Settings.load({}))
    broken = router.broken
    assert broken["fixture_broken"].startswith("ImportError")
    assert broken["fixture_hook_raises"].startswith("RuntimeError")
    assert broken["ctor-raises"] == "RuntimeError: boom"
    assert broken["caps-raise"].startswith("RuntimeError")
    assert broken["bad-caps"].startswith("invalid capabilities: languages")
    assert "'xx'" in broken["bad-caps"] and "'english' (use 'en')" in broken["bad-caps"]
    assert not {"ctor-raises", "caps-raise", "bad-caps"} & set(router.providers)
    # available raising: skipped as unhealthy; health raising: probe() reports, never raises.
    decision = router.explain("design", "en", provider=None)
    assert "available-raises" not in (decision.provider, *decision.fallbacks)
    assert (await probe(router.providers["health-raises"])).detail.startswith("broken: ")
    result = await router.design(DesignRequest(text="Hi there.", instruct="calm", language="en"))
    assert result.audio
    assert "auto" in router.capabilities.languages  # the union skips the broken ones


def test_capabilities_validate_themselves_naming_the_field() -> None:
    def caps(**changes: Any) -> Capabilities:
        base: dict[str, Any] = {
            "operations": frozenset({"clone"}),
            "languages": ("en",),
            "clone_modes": ("icl",),
            "sample_rate": 16_000,
            "max_text_chars": 100,
        }
        return Capabilities.model_validate({**base, **changes})

    for changes, field in (
        ({"languages": ("en", "xx", "english")}, "languages"),
        ({"max_text_chars": 0}, "max_text_chars"),
        ({"sample_rate": -1}, "sample_rate"),
        ({"clone_modes": ()}, "clone_modes"),
        ({"operations": frozenset({"design"})}, "clone_modes"),
    ):
        with pytest.raises(Exception) as info:
            caps(**changes)
        assert field in str(info.value)
    assert caps().languages == ("en",)


# -- never block the loop; timeouts ---------------------------------------------------------------


class _Sleepy(Provider):
    """Design by sleeping: ``blocking_async`` breaks the documented rule for async methods."""

    id: ClassVar[str] = "sleepy"
    seconds: ClassVar[float] = 0.5

    @property
    def capabilities(self) -> Capabilities:
        return fake_capabilities(operations=("design",), clone_modes=())

    def _design(self, text: str, language: str, request: DesignRequest) -> Speech:
        time.sleep(self.seconds)
        return _tone()


class _BlockingAsync(_Sleepy):
    id: ClassVar[str] = "blocking"

    async def _design(self, text: str, language: str, request: DesignRequest) -> Speech:  # type: ignore[override]
        time.sleep(self.seconds)  # what the docs say not to do
        return _tone()


def _tone(samples: Any = None, rate: int | None = RATE) -> Speech:
    if samples is None:
        t = np.arange(RATE // 2) / RATE
        samples = (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32)
    return Speech(model="tone", mode="design", samples=samples, sample_rate=rate)


async def _longest_stall(work: Callable[[], Awaitable[Any]]) -> float:
    """The longest gap between ticks of a 10 ms ticker on the loop while ``work`` runs."""
    gaps: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        last = time.monotonic()
        while not done.is_set():
            await asyncio.sleep(0.01)
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    await asyncio.sleep(0.02)
    await work()
    done.set()
    await tick
    return max(gaps)


async def test_a_sync_provider_runs_off_the_loop() -> None:
    request = DesignRequest(text="Hello.", instruct="calm", language="en")
    off_loop = await _longest_stall(lambda: _Sleepy().design(request))
    on_loop = await _longest_stall(lambda: _BlockingAsync().design(request))
    assert on_loop >= 0.4  # the probe sees a blocked loop when there is one
    assert off_loop < on_loop / 3


async def test_provider_and_request_timeouts_are_typed_and_fall_back() -> None:
    slow = _Sleepy()
    backup = FakeProvider(
        provider_id="backup", caps=fake_capabilities(operations=("design",), clone_modes=())
    )
    request = DesignRequest(text="Hello.", instruct="calm", language="en", provider="sleepy")
    timed = request.model_copy(update={"timeout": 0.1})
    with pytest.raises(ProviderTimeoutError) as info:
        await _router(slow).design(timed)
    assert info.value.code == "provider_timeout" and info.value.fallback
    assert "0.1 s" in str(info.value)

    configured = Router(
        providers=[slow, backup],
        settings=Settings.model_validate({"providers": {"sleepy": {"timeout": 0.1}}}),
    )
    slow.timeout = 0.1  # what Router sets from [providers.sleepy] timeout when it builds
    result = await configured.design(request.model_copy(update={"provider": None}))
    # sleepy ranks first (same quality, id order); it times out and the router falls back.
    assert result.provider == "backup" and "sleepy" in result.fallback_from


# -- output rules, text rules -------------------------------------------------------------------


class _Returns(_Sleepy):
    id: ClassVar[str] = "returns"
    speech: Speech

    def _design(self, text: str, language: str, request: DesignRequest) -> Speech:
        return self.speech


@pytest.mark.parametrize(
    ("speech", "code", "fix"),
    [
        (_tone((np.ones(8000) * 1000).astype(np.int16)), "output_not_float", "floats"),
        (_tone(np.full(8000, 3.0, dtype=np.float32)), "output_out_of_range", "[-1, 1]"),
        (_tone(np.zeros((8000, 2), dtype=np.float32) + 0.2), "output_not_mono", "1-D"),
        (_tone(rate=None), "output_no_rate", "sample_rate"),
        (_tone(rate=RATE * 2), "output_rate_mismatch", "declared rate"),
        (Speech(model="tone", mode="design"), "output_empty", "Speech.samples"),
    ],
)
async def test_bad_samples_are_typed_errors_saying_what_to_return(
    speech: Speech, code: str, fix: str
) -> None:
    provider = _Returns()
    provider.speech = speech
    with pytest.raises(OutputValidationError) as info:
        await provider.design(DesignRequest(text="Hello.", instruct="calm", language="en"))
    assert info.value.code == code and fix in str(info.value)


@pytest.mark.parametrize("text", ["\u200b\u200b\u200b", "\x00\x01\x02", " \t\n", "...!?", "\ufeff"])
async def test_text_with_nothing_speakable_is_empty_text(text: str) -> None:
    with pytest.raises(ValidationError) as info:
        await _router(FakeProvider()).design(DesignRequest(text=text, instruct="calm"))
    assert info.value.code == "empty_text"


async def test_the_router_caps_a_request_s_text_before_any_provider() -> None:
    fake = FakeProvider()
    router = _router(fake, TTS_ROUTER_MAX_TEXT_CHARS="1000")
    with pytest.raises(ValidationError) as info:
        await router.design(DesignRequest(text="word " * 201, instruct="calm"))
    assert info.value.code == "text_too_long" and "TTS_ROUTER_MAX_TEXT_CHARS" in str(info.value)
    assert fake.calls == []
    assert Settings.load({}).max_text_chars == 20_000


# -- timings, tracebacks, frame locals -------------------------------------------------------


async def test_remote_results_carry_the_service_and_client_stages(make_service: Any) -> None:
    service: Service = make_service()
    remote = Primary(_config(service.url))
    result = await remote.clone(_request())
    await remote.aclose()
    stages = set(result.timings)
    assert {"queue", "generate", "encode"} <= stages  # the service's
    assert {"upload", "request", "network", "total"} <= stages  # the client's
    assert result.timings["generate"] == pytest.approx(0.001)  # the tone engine's, exactly
    assert result.timings["total"] >= result.timings["request"]


def test_sync_facade_errors_carry_no_event_loop_context() -> None:
    router = _router(FakeProvider())
    with pytest.raises(ValidationError) as info:
        router.sync.design(DesignRequest(text="  ", instruct="calm"))
    assert info.value.__context__ is None and info.value.__cause__ is None
    rendered = "".join(traceback.format_exception(info.value))
    assert "no running event loop" not in rendered and "During handling" not in rendered


async def test_no_user_text_or_secret_in_any_frame_local(make_service: Any) -> None:
    service, script = scripted_service(make_service)
    script.then("POST", "/clone", *[Reply(500)] * 6)
    router = _router(Primary(_config(service.url)))
    try:
        await router.clone(_request())
    except TTSRouterError as exc:
        error: BaseException = exc
    else:
        raise AssertionError("the scripted 500s should have failed the job")
    await router.aclose()
    seen = 0
    chain: BaseException | None = error
    while chain is not None:  # every frame of the error and of anything chained to it
        tb = chain.__traceback__
        while tb is not None:
            for name, value in tb.tb_frame.f_locals.items():
                if name.startswith("@") or name in {"self", "router", "script", "service"}:
                    continue  # the test's own objects
                text = repr(value)
                seen += 1
                for secret in (SECRET_TEXT, TRANSCRIPT, AUTH.key, AUTH.secret):
                    assert secret not in text, f"{name} in {tb.tb_frame.f_code.co_name}"
            tb = tb.tb_next
        chain = chain.__cause__ or chain.__context__
    assert seen  # the scan looked at something


def test_credentials_in_a_service_url_are_refused() -> None:
    with pytest.raises(ConfigurationError) as info:
        ServiceClient("http://user:hunter2@127.0.0.1:9/?token=T", provider="tone")
    assert "hunter2" not in str(info.value) and "MODAL_KEY" in str(info.value)


async def test_a_fallback_returns_the_rate_the_request_asked_for() -> None:
    low = FakeProvider(
        provider_id="low",
        failures=[ProviderUnavailableError("down")],
        caps=fake_capabilities(sample_rate=16_000),
    )
    high = FakeProvider(provider_id="high", caps=fake_capabilities(sample_rate=24_000))
    router = _router(low, high)
    plain = DesignRequest(text="Hello there.", instruct="calm", language="en")
    fell_back = await router.design(plain.model_copy(update={"sample_rate": 16_000}))
    assert fell_back.provider == "high" and fell_back.sample_rate == 16_000
    decoded = decode_audio(fell_back.audio, OUTPUT_LIMITS)
    assert decoded.sample_rate == 16_000
    assert decoded.duration == pytest.approx(fell_back.duration, abs=0.01)
    native = await high.design(plain)
    assert native.sample_rate == 24_000  # without a request rate, the provider's own
    assert fell_back.duration == pytest.approx(native.duration, abs=0.01)  # same speech
