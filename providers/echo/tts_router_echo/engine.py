"""The Echo-TTS engine: :class:`tts_router.serving.SpeechEngine` over ``echo_tts``.

One job is spoken in passes of at most one Echo window (~30 s): the text is split at sentence
boundaries into passes sized by a characters-per-second budget (:mod:`.passes`), the passes
are sampled together as one batch (they share the speaker and the seed), each is decoded and
cropped where upstream finds the model's end-of-speech padding, and the pieces are joined in
order with the core's :func:`tts_router.audio.stitch`. Nothing is sped up or cut.

The pipeline is upstream's ``sample_pipeline`` taken apart so that passes can be batched and a
reference's speaker latents computed once: the same upstream functions, called in the same
order (a test checks that a single pass matches ``sample_pipeline`` sample for sample).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import numpy.typing as npt

from tts_router.audio import DecodedAudio, stitch
from tts_router.errors import (
    ProviderError,
    TTSRouterError,
    UnsupportedLanguageError,
    UnsupportedOperationError,
    ValidationError,
)
from tts_router.protocol import HealthInfo
from tts_router.serving import BoundedLRU, CloneJob, DesignJob, EngineResult

from .architecture import MODEL_REPO, Architecture
from .passes import CHARS_PER_SECOND, plan_passes, untagged
from .passes import max_pass_chars as default_pass_chars
from .provider import ECHO_LICENSE
from .sampler import HOP_SAMPLES, SAMPLE_RATE, SamplerSettings

if TYPE_CHECKING:
    import torch

    from .weights import Components

__all__ = ["LANGUAGES", "LICENSE", "EchoEngine", "Synthesis"]

logger = logging.getLogger("tts_router_echo.engine")

FloatArray = npt.NDArray[np.float32]
LANGUAGES = ("en",)
LICENSE = ECHO_LICENSE
# Upstream's text window (sample_pipeline's MAX_TEXT_LENGTH): byte tokens, BOS included.
_TEXT_TOKENS = 768
_SPEAKER_LATENTS = 6400  # upstream's cap on reference latents (~5 min)

_TRANSCRIPT_IGNORED = "the reference transcript was ignored: Echo-TTS clones from audio alone"
_WINDOW_FULL = (
    "a pass filled Echo's whole window without finishing; its speech may be fast "
    "(lower chars_per_second)"
)


@dataclass(frozen=True, slots=True)
class Synthesis:
    """One text spoken in passes: the passes in order, and their stitched audio."""

    samples: FloatArray = field(repr=False)
    passes: tuple[FloatArray, ...] = field(repr=False)
    texts: tuple[str, ...] = field(repr=False)
    sample_rate: int
    timings: dict[str, float]
    full_windows: int = 0
    """Passes that used the whole window (upstream found no end-of-speech padding)."""

    @property
    def chars_per_second(self) -> float:
        """Spoken characters (speaker tags left out) per second of audio: on real weights, the
        measurement that :data:`~.passes.CHARS_PER_SECOND` should be checked against."""
        chars = sum(len(untagged(text)) for text in self.texts)
        return chars * self.sample_rate / max(1, len(self.samples))


class EchoEngine:
    """Echo-TTS behind the service protocol: English clones from reference audio alone.

    ``model_dir`` holds the weights in the layout of :mod:`tts_router_echo.architecture`
    (real, or the tiny fixture). ``device`` defaults to CUDA when present, else CPU. The model
    runs in bfloat16 on GPUs with native bfloat16, else float32; the autoencoder in float32, as
    upstream recommends (``ae_dtype="bfloat16"`` is its low-VRAM option). Passes hold at most
    ``max_pass_chars`` characters (default: :data:`~.passes.CHARS_PER_SECOND` x the window x
    :data:`~.passes.PASS_FILL`); up to ``max_batch_passes`` passes are sampled in one batch.
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        device: str | None = None,
        model_dtype: str | None = None,
        ae_dtype: str = "float32",
        sampler: SamplerSettings | None = None,
        chars_per_second: float = CHARS_PER_SECOND,
        max_pass_chars: int | None = None,
        max_batch_passes: int = 4,
        speaker_cache_entries: int = 32,
    ) -> None:
        if max_batch_passes < 1:
            raise ValueError("max_batch_passes must be at least 1")
        self.model_dir = Path(model_dir)
        self.sampler = sampler or SamplerSettings()
        self.max_pass_chars = max_pass_chars or default_pass_chars(
            self.sampler.window_seconds, chars_per_second
        )
        self.max_batch_passes = max_batch_passes
        self._requested_device = device
        self._requested_model_dtype = model_dtype
        self._ae_dtype_name = ae_dtype
        architecture = Architecture.load(self.model_dir)
        self.model_name = MODEL_REPO if architecture is None else architecture.name
        self.variant = "base" if architecture is None else "custom"
        self.device = device or "auto"
        self.dtype = model_dtype or "auto"
        self._parts: Components | None = None
        self._speakers: BoundedLRU[str, tuple[torch.Tensor, torch.Tensor]] = BoundedLRU(
            speaker_cache_entries, 1 << 30, lambda item: int(item[0].nelement()) * 4
        )

    # -- SpeechEngine ----------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        """Whether :meth:`load` has finished."""
        return self._parts is not None

    def load(self) -> None:
        """Load the weights from ``model_dir`` (idempotent; never downloads)."""
        if self._parts is not None:
            return
        import torch

        from .weights import load_components

        started = time.perf_counter()
        device = self._requested_device or ("cuda" if torch.cuda.is_available() else "cpu")
        model_dtype = _model_dtype(device, self._requested_model_dtype)
        ae_dtype = getattr(torch, self._ae_dtype_name)
        parts = load_components(
            self.model_dir, device=device, model_dtype=model_dtype, ae_dtype=ae_dtype
        )
        self.device, self.dtype = device, str(model_dtype).removeprefix("torch.")
        self._parts = parts
        logger.info(
            "loaded %s on %s (%s) in %.2fs",
            parts.name,
            device,
            self.dtype,
            time.perf_counter() - started,
        )

    def health(self) -> HealthInfo:
        """What runs here; attribute reads only."""
        return HealthInfo(
            status="ok" if self.loaded else "loading",
            model=self.model_name,
            variant=self.variant,
            device=self.device,
            dtype=self.dtype,
            attention="sdpa",
            loaded=self.loaded,
            version=_versions(),
            operations=["clone"],
        )

    def languages(self) -> Sequence[str]:
        """English only."""
        return LANGUAGES

    def clone(self, jobs: Sequence[CloneJob]) -> list[EngineResult | TTSRouterError]:
        """Speak each job in turn; a failing job fails alone."""
        results: list[EngineResult | TTSRouterError] = []
        for job in jobs:
            try:
                results.append(self._clone_one(job))
            except TTSRouterError as exc:
                results.append(exc)
            except Exception as exc:  # an engine failure: keep the type, never the text
                logger.exception("Echo-TTS failed on a clone job (%s)", type(exc).__name__)
                results.append(
                    ProviderError(
                        f"Echo-TTS failed unexpectedly ({type(exc).__name__}); see the logs",
                        code="internal_error",
                    )
                )
        return results

    def design(self, job: DesignJob) -> EngineResult:
        """Echo-TTS has no voice design: always raises UnsupportedOperationError."""
        raise UnsupportedOperationError(
            "Echo-TTS cannot design voices from a description; clone from a reference instead"
        )

    # -- generation ------------------------------------------------------------------------

    def synthesize(
        self,
        text: str,
        reference: DecodedAudio,
        *,
        reference_id: str | None = None,
        seed: int | None = None,
    ) -> Synthesis:
        """Speak ``text`` in the voice of ``reference``, pass by pass (see the module doc)."""
        import torch
        from echo_tts.inference import (
            ae_decode,
            crop_audio_to_flattening_point,
            get_text_input_ids_and_mask,
            sample_euler_cfg_independent_guidances,
        )

        parts = self._parts
        if parts is None:
            raise ProviderError("the Echo-TTS model is not loaded; call load() first")
        texts = plan_passes(text, self.max_pass_chars)
        if not texts:
            raise ValidationError("the text is empty", code="empty_text")
        timings: dict[str, float] = {}
        started = time.perf_counter()
        speaker_latent, speaker_mask = self._speaker(parts, reference, reference_id)
        timings["reference"] = time.perf_counter() - started
        seed = self.sampler.seed if seed is None else seed
        passes: list[FloatArray] = []
        sample_s = decode_s = 0.0
        full = self.sampler.sequence_length * HOP_SAMPLES
        for start in range(0, len(texts), self.max_batch_passes):
            group = texts[start : start + self.max_batch_passes]
            tick = time.perf_counter()
            # Already normalised by plan_passes (a superset of upstream's normaliser).
            ids, mask = cast(
                "tuple[torch.Tensor, torch.Tensor]",
                get_text_input_ids_and_mask(
                    group, max_length=_TEXT_TOKENS, device=str(parts.model.device), normalize=False
                ),
            )
            latents = sample_euler_cfg_independent_guidances(
                parts.model,
                speaker_latent.expand(len(group), -1, -1),
                speaker_mask.expand(len(group), -1),
                ids,
                mask,
                seed,
                **self.sampler.sampler_kwargs(),
            )
            sample_s += time.perf_counter() - tick
            tick = time.perf_counter()
            # Decoded one pass at a time: the decoder's activations at 44.1 kHz are the
            # memory peak, and a batch of 30 s windows could exhaust a 24 GB GPU.
            for i in range(len(group)):
                with torch.inference_mode():
                    audio = ae_decode(parts.fish_ae, parts.pca_state, latents[i : i + 1])
                    audio = crop_audio_to_flattening_point(audio, latents[i])
                passes.append(audio.reshape(-1).float().cpu().numpy().astype(np.float32))
            decode_s += time.perf_counter() - tick
        timings["sample"], timings["decode"] = sample_s, decode_s
        samples = stitch(passes, SAMPLE_RATE)
        timings["total"] = time.perf_counter() - started
        return Synthesis(
            samples=samples,
            passes=tuple(passes),
            texts=tuple(texts),
            sample_rate=SAMPLE_RATE,
            timings=timings,
            full_windows=sum(len(p) >= full for p in passes),
        )

    def _clone_one(self, job: CloneJob) -> EngineResult:
        if job.language not in LANGUAGES:
            raise UnsupportedLanguageError(
                f"Echo-TTS speaks English only, not {job.language!r}", supported=LANGUAGES
            )
        warnings: list[str] = []
        if job.transcript:
            logger.warning("a reference transcript was given and ignored (Echo clones from audio)")
            warnings.append(_TRANSCRIPT_IGNORED)
        if job.options:
            warnings.append(
                "generation options have no effect on Echo-TTS (a diffusion sampler): "
                + ", ".join(sorted(job.options))
            )
        result = self.synthesize(
            job.text, job.reference, reference_id=job.reference_id, seed=job.seed
        )
        if len(result.passes) > 1:
            warnings.append(f"text was spoken in {len(result.passes)} passes joined in order")
        if result.full_windows:
            warnings.append(_WINDOW_FULL)
        return EngineResult(
            samples=result.samples,
            sample_rate=result.sample_rate,
            mode="audio",
            model=self.model_name,
            timings=result.timings,
            warnings=tuple(warnings),
        )

    def _speaker(
        self, parts: Components, reference: DecodedAudio, reference_id: str | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Speaker latents and mask for ``reference``, cached by its content hash."""
        import torch
        import torchaudio.functional as taf  # type: ignore[import-untyped]
        from echo_tts.inference import get_speaker_latent_and_mask

        if reference_id is not None:
            cached = self._speakers.get(reference_id)
            if cached is not None:
                return cached
        # Tensors straight from the core validator's samples: torchaudio's file I/O needs FFmpeg.
        audio = torch.from_numpy(np.ascontiguousarray(reference.samples)).reshape(1, -1)
        if reference.sample_rate != SAMPLE_RATE:
            audio = taf.resample(audio, reference.sample_rate, SAMPLE_RATE)
        # Upstream's load_audio scales the peak down to 1.0 at most; the validator clipped.
        audio = audio / torch.clamp(audio.abs().max(), min=1.0)
        latent, mask = get_speaker_latent_and_mask(
            parts.fish_ae,
            parts.pca_state,
            audio.to(device=parts.fish_ae.device, dtype=parts.fish_ae.dtype),
            max_speaker_latent_length=_SPEAKER_LATENTS,
            pad_to_max=False,
        )
        if reference_id is not None:
            self._speakers.put(reference_id, (latent, mask))
        return latent, mask


def _model_dtype(device: str, requested: str | None) -> torch.dtype:
    import torch

    if requested is not None:
        return cast("torch.dtype", getattr(torch, requested))
    # Native bf16 only (Ampere and later): an emulated bf16 on a T4 is slower than float32.
    if device.startswith("cuda") and torch.cuda.is_bf16_supported(including_emulation=False):
        return torch.bfloat16
    return torch.float32


def _versions() -> str:
    def of(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "unknown"

    return f"echo-tts {of('echo-tts')}; tts-router-echo {of('tts-router-echo')}"
