"""What a host asks of the audio: its format, rate and loudness, for whole results and for
streams, whichever provider answers; and a stream's progress (``total``)."""

from __future__ import annotations

import io
from typing import ClassVar

import av
import numpy as np
import pyloudnorm
import pytest

from tts_router import DesignRequest, Router, Settings, SpeechResult
from tts_router.errors import ProviderUnavailableError, ValidationError
from tts_router.formats import FORMATS, MEDIA_TYPES, STREAM_FORMATS, StreamEncoder
from tts_router.provider import Capabilities, Provider, Speech
from tts_router.streaming import AudioChunk
from tts_router.testing import fake_capabilities

TEXT = " ".join(f"Sentence number {n} is spoken as a chunk of its own here." for n in range(6))
# A frame of the coarsest codec here (AAC: 1024 samples at 24 kHz), plus its priming.
FRAME_SECONDS = 2 * 1024 / 24_000


class _Noise(Provider):
    """Speaks 40 ms of noise per character at ``level`` (peak), ``rate`` Hz; can fail."""

    id: ClassVar[str] = "noise"

    def __init__(self, *, level: float = 0.1, rate: int = 24_000, fail: bool = False) -> None:
        self.level, self.rate, self.fail = level, rate, fail

    @property
    def capabilities(self) -> Capabilities:
        return fake_capabilities(
            operations=("design",), clone_modes=(), max_text_chars=80, sample_rate=self.rate
        )

    async def _design(self, text: str, language: str, request: DesignRequest) -> Speech:
        if self.fail:
            raise ProviderUnavailableError("down")
        rng = np.random.default_rng(len(text))
        noise = rng.uniform(-1, 1, int(0.04 * self.rate * len(text))).astype(np.float32)
        return Speech(model="n", mode="design", samples=self.level * noise, sample_rate=self.rate)


class _Quiet(_Noise):
    id: ClassVar[str] = "quiet"


def _request(**fields: object) -> DesignRequest:
    return DesignRequest(text=TEXT, instruct="calm", language="en", **fields)  # type: ignore[arg-type]


def _decoded_seconds(data: bytes, audio_format: str, rate: int) -> float:
    if audio_format == "pcm":
        return len(data) / 2 / rate
    with av.open(io.BytesIO(data)) as container:
        frames = list(container.decode(audio=0))
    return sum(f.samples for f in frames) / frames[0].sample_rate


def _lufs(samples: np.ndarray, rate: int) -> float:
    return float(pyloudnorm.Meter(rate).integrated_loudness(samples.astype(np.float64)))


def _pcm(result: SpeechResult) -> np.ndarray:
    return np.frombuffer(result.audio, "<i2").astype(np.float32) / 32767


@pytest.mark.parametrize("audio_format", FORMATS)
async def test_a_result_comes_in_the_format_asked_and_decodes_to_its_duration(
    audio_format: str,
) -> None:
    result = await _Noise().design(_request(format=audio_format))
    assert result.format == audio_format and result.media_type == MEDIA_TYPES[audio_format]
    seconds = _decoded_seconds(result.audio, audio_format, result.sample_rate)
    assert seconds == pytest.approx(result.duration, abs=FRAME_SECONDS)


@pytest.mark.parametrize("audio_format", STREAM_FORMATS)
async def test_a_stream_s_pieces_make_one_file_in_the_format_asked(audio_format: str) -> None:
    chunks = [c async for c in _Noise().stream_design(_request(format=audio_format))]
    assert len(chunks) > 2 and all(c.format == audio_format for c in chunks)
    data = b"".join(c.data for c in chunks)
    if audio_format == "wav":  # a header of unknown length: players read to the end
        assert data[:4] == b"RIFF" and data[40:44] == b"\xdb\xff\xff\xff"
        data = data[44:]
        audio_format = "pcm"
    rate = StreamEncoder(audio_format, chunks[0].sample_rate).sample_rate
    streamed = sum(c.duration for c in chunks)
    assert _decoded_seconds(data, audio_format, rate) == pytest.approx(streamed, abs=FRAME_SECONDS)


async def test_flac_cannot_stream_and_says_so_before_any_work() -> None:
    provider = _Noise()
    with pytest.raises(ValidationError) as raised:
        async for _ in provider.stream_design(_request(format="flac")):
            pass
    assert raised.value.code == "unsupported_format" and "wav" in raised.value.message


def test_an_unknown_format_is_a_typed_error_on_the_request() -> None:
    with pytest.raises(Exception) as raised:
        _request(format="m4a")
    assert "format" in str(raised.value)


async def test_a_stream_comes_at_the_rate_asked() -> None:
    chunks = [c async for c in _Noise(rate=44_100).stream_design(_request(sample_rate=16_000))]
    assert {c.sample_rate for c in chunks} == {16_000}
    assert all(len(c.samples) == pytest.approx(c.duration * 16_000) for c in chunks)


async def test_a_stream_says_how_many_chunks_it_has() -> None:
    chunks: list[AudioChunk] = [c async for c in _Noise().stream_design(_request())]
    assert {c.total for c in chunks} == {len(chunks)}
    assert (chunks[-1].sequence + 1) / (chunks[-1].total or 0) == 1.0  # progress reaches 100%


async def test_loudness_is_the_target_whichever_provider_answers() -> None:
    loud = await _Noise(level=0.5).design(_request(loudness=-20.0, format="pcm"))
    quiet = await _Quiet(level=0.02).design(_request(loudness=-20.0, format="pcm"))
    for result in (loud, quiet):
        assert _lufs(_pcm(result), result.sample_rate) == pytest.approx(-20.0, abs=0.5)
    # Without a target each keeps its own level, 28 dB apart.
    raw = [await p.design(_request(format="pcm")) for p in (_Noise(level=0.5), _Quiet(level=0.02))]
    levels = [_lufs(_pcm(r), r.sample_rate) for r in raw]
    assert levels[0] - levels[1] == pytest.approx(28, abs=1)


async def test_loudness_after_a_fallback_matches_the_provider_that_failed() -> None:
    router = Router(
        providers=[_Noise(level=0.5, fail=True), _Quiet(level=0.02)],
        settings=Settings.load({"TTS_ROUTER_PROVIDER": "noise"}),
    )
    chunks = [c async for c in router.stream_design(_request(loudness=-18.0))]
    assert chunks[0].provider == "quiet"
    for chunk in chunks:
        assert _lufs(chunk.samples, chunk.sample_rate) == pytest.approx(-18.0, abs=0.5)


async def test_loudness_never_clips() -> None:
    result = await _Noise(level=0.9).design(_request(loudness=-5.0, format="pcm"))
    assert np.max(np.abs(_pcm(result))) < 0.99


async def test_the_router_s_loudness_setting_applies_to_requests_that_set_none() -> None:
    settings = Settings.load({"TTS_ROUTER_LOUDNESS": "-20"})
    router = Router(providers=[_Quiet(level=0.02)], settings=settings)
    result = await router.design(_request(format="pcm"))
    assert _lufs(_pcm(result), result.sample_rate) == pytest.approx(-20.0, abs=0.5)
    own = await router.design(_request(format="pcm", loudness=-30.0))  # the request's wins
    assert _lufs(_pcm(own), own.sample_rate) == pytest.approx(-30.0, abs=0.5)


def test_a_loudness_setting_out_of_range_names_the_variable() -> None:
    from tts_router.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="loudness"):
        Settings.load({"TTS_ROUTER_LOUDNESS": "3"})
