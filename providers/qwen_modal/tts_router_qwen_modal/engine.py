"""QwenEngine: the qwen-tts wrapper the GPU service and the local backend both run.

It implements :class:`tts_router.serving.SpeechEngine`. What it adds over ``Qwen3TTSModel``:

- a load plan with attention fallbacks (:mod:`.loading`), and the choice reported;
- ICL cloning when a transcript is given, x-vector cloning when not, the mode recorded;
- voice prompts (reference codes + speaker embedding) cached per (audio, transcript, mode,
  model) in an LRU bounded in entries and bytes;
- long text split into chunks under the token budget (:mod:`.chunking`), all chunks of all
  jobs generated together in batched calls of up to ``max_batch_items``, stitched in order;
- per-row sampling (:mod:`.sampling`): each chunk draws from its own stream, keyed by its
  request's seed, with its request's options, so requests with different seeds and options
  share one generate call and a seeded request sounds the same whatever it is batched with;
- every chunk checked (:mod:`.checks`): a token-cap hit is a truncation error, never audio;
- a warm-up generation after loading (the first request does not pay for lazy set-up), and
  cached memory handed back after large batches.

Reference audio reaches qwen-tts only as ``(float32 array, sample_rate)`` decoded by the core's
validator: a string would make qwen-tts fetch a URL or read a file. torch and qwen_tts are
imported by :meth:`QwenEngine.load`, never on import.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import hashlib
import importlib.metadata
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from functools import cache, partial
from typing import Any

import numpy as np
import numpy.typing as npt

from tts_router.audio import stitch
from tts_router.errors import (
    OutputValidationError,
    ProviderError,
    TTSRouterError,
    UnsupportedLanguageError,
    UnsupportedOperationError,
    ValidationError,
)
from tts_router.languages import AUTO, language_name, normalize_language
from tts_router.models import CloneMode
from tts_router.protocol import HealthInfo
from tts_router.serving import BoundedLRU, CloneJob, DesignJob, EngineResult
from tts_router.text import chunked_warning, require_speakable

from . import __version__
from .checks import check_chunk
from .chunking import split_for_generation
from .loading import Attention, DType, Loader, load_model
from .variants import resolve_model

__all__ = ["QwenEngine", "QwenEngineConfig", "release_memory"]

logger = logging.getLogger("tts_router_qwen_modal.engine")

FloatArray = npt.NDArray[np.float32]
# (audio sha256, transcript sha256 or "", mode, model): the prompt depends on nothing else.
PromptKey = tuple[str, str, str, str]
_WARMUP_RATE = 44_100  # the warm-up reference's sample rate (the usual one of uploads)


@dataclass(frozen=True, slots=True)
class QwenEngineConfig:
    """How to load and run one Qwen3-TTS model."""

    model: str
    """A model directory, a short name ("0.6B-Base") or a hub id."""
    device: str | None = None
    """"cuda", "cuda:1", "cpu"...; None: the first GPU if there is one, else the CPU."""
    dtype: DType | None = None
    """None: the plan's choice (see :func:`.loading.plan_load`)."""
    attention: Attention | None = None
    max_new_tokens: int = 2048
    """The per-chunk token cap handed to qwen-tts (2048 frames = ~164 s)."""
    max_chunk_chars: int = 400
    frames_per_char: float | None = None
    """Override the conservative budget of :mod:`.chunking` (tests use it to force chunks)."""
    min_seconds_per_char: float = 0.01
    """Below this much audio per character a chunk is 'absurdly short' (100 chars/s)."""
    max_batch_items: int = 32
    """Chunks per generate call: bounds GPU memory; more chunks run as further calls."""
    crossfade_ms: float = 10.0
    prompt_cache_entries: int = 128
    prompt_cache_bytes: int = 256 * 1024 * 1024
    warmup: bool = True
    """After loading, build one voice prompt and generate a few frames with it, so that lazy
    set-up (CUDA kernels and allocator, the codec's first pass...) happens before the first
    request. ~0.1 s on the tiny test model."""
    warmup_frames: int = 4
    release_memory_rows: int = 8
    """After a call that generated at least this many chunks, hand cached memory back (the
    CUDA allocator's cache, young Python cycles, glibc's free heap; see
    :func:`release_memory`); 0: never."""


@dataclass(slots=True)
class _Chunk:
    """One text chunk of one job, and where its audio or error goes."""

    job: int
    index: int
    text: str = field(repr=False)
    seed: int | None
    options: Mapping[str, float | int]
    audio: FloatArray | None = None
    error: TTSRouterError | None = None
    call: int = -1
    seconds: float = 0.0


class QwenEngine:
    """One Qwen3-TTS model (Base: clone; VoiceDesign: design), loaded on first :meth:`load`.

    Thread-safe by serialisation: a lock admits one generation at a time, because threads
    sharing one model are slower than sequential calls (and the batching happens inside one
    call anyway).
    """

    def __init__(self, config: QwenEngineConfig, *, loader: Loader | None = None) -> None:
        self.config = config
        self._loader = loader
        self.source = resolve_model(config.model)
        self.prompt_cache: BoundedLRU[PromptKey, Any] = BoundedLRU(
            config.prompt_cache_entries, config.prompt_cache_bytes, _prompt_nbytes
        )
        self.generate_calls = 0
        self.prompts_built = 0
        self.warmups = 0
        self.memory_releases = 0
        self._per_row = False  # whether the model takes per-row sampling (see .sampling)
        self._lock = threading.RLock()
        self._model: Any = None
        self._torch: Any = None
        self._kind = ""
        self._variant = self.source.variant
        self._device = "unloaded"
        self._dtype = "unloaded"
        self._attention = "unloaded"
        self._names: dict[str, str] = {}  # canonical code -> qwen-tts language name
        self._sample_rate = 24_000  # every 12 Hz model; updated from the first generation
        # A hub model is named by its id; a local directory by its name (paths stay private).
        self.model_name = self.source.variant if self.source.local else self.source.location

    # -- loading ---------------------------------------------------------------------------

    def load(self) -> None:
        """Load the model (:func:`.loading.load_model`: the plan's dtype, the first attention
        backend that loads), then warm it up."""
        with self._lock:
            if self._model is not None:
                return
            import torch

            from .sampling import supports_per_row

            device = self.config.device or ("cuda:0" if torch.cuda.is_available() else "cpu")
            started = time.perf_counter()
            model, plan, attention = load_model(
                self.source.location,
                device,
                dtype=self.config.dtype,
                attention=self.config.attention,
                loader=self._loader,
            )
            self._torch = torch
            self._kind = str(model.model.tts_model_type)
            if self.source.local:  # a hub load keeps the variants table's short name
                self._variant = f"{model.model.tts_model_size}-{self._kind}"
            self._names = _language_names(model.get_supported_languages() or [])
            self._device, self._dtype, self._attention = device, plan.dtype, attention
            self._per_row = supports_per_row(model)
            if not self._per_row:
                logger.warning("per-row sampling unavailable: one generate call per seed")
            logger.info(
                "loaded %s (%s) on %s, %s, %s attention in %.1fs",
                self._variant,
                self._kind,
                device,
                plan.dtype,
                attention,
                time.perf_counter() - started,
            )
            if self.config.warmup:
                self._warm_up(model)
            self._model = model  # loaded (and healthy) only once warm

    def _warm_up(self, model: Any) -> None:
        """One small generation through the path requests take (a voice prompt in ICL mode,
        per-row sampling, the codec's decoder). A failure is logged, not raised: requests
        then meet it as typed errors."""
        started = time.perf_counter()
        text = "Hello."
        language = self._names.get("en") or self._names.get(AUTO) or "Auto"
        frames = self.config.warmup_frames
        try:
            if self._kind == "base":
                # 44.1 kHz: the resampling path too (its first use costs ~11 s on a CPU)
                noise = np.random.default_rng(0).standard_normal(_WARMUP_RATE)
                reference = ((0.05 * noise).astype(np.float32), _WARMUP_RATE)
                (prompt,) = model.create_voice_clone_prompt(
                    ref_audio=reference, ref_text=text, x_vector_only_mode=False
                )
                generate = partial(model.generate_voice_clone, voice_clone_prompt=[prompt])
            elif self._kind == "voice_design":
                generate = partial(model.generate_voice_design, instruct=["A calm, clear voice."])
            else:
                return
            with self._sampling(model, [_Chunk(0, 0, text, 0, {})]):
                generate(text=[text], language=[language], max_new_tokens=frames)
        except Exception as exc:
            logger.warning("warm-up failed (%s); the first request pays set-up", type(exc).__name__)
            return
        self.warmups += 1
        logger.info("warmed up in %.2fs", time.perf_counter() - started)

    @property
    def loaded(self) -> bool:
        """Whether :meth:`load` has finished."""
        return self._model is not None

    @property
    def kind(self) -> str:
        """``tts_model_type`` of the loaded model: "base", "voice_design" or "custom_voice"."""
        return self._kind

    # -- SpeechEngine ----------------------------------------------------------------------

    def health(self) -> HealthInfo:
        """What is loaded where. Cheap: reads attributes only."""
        operations: list[Any] = {"base": ["clone"], "voice_design": ["design"]}.get(self._kind, [])
        return HealthInfo(
            status="ok" if self.loaded else "loading",
            model=self.model_name,
            variant=self._variant,
            device=self._device,
            dtype=self._dtype,
            attention=self._attention,
            loaded=self.loaded,
            version=f"tts-router-qwen-modal {__version__}; qwen-tts {_qwen_version()}",
            operations=operations,
        )

    def languages(self) -> Sequence[str]:
        """Canonical codes the loaded model speaks, ``"auto"`` included (empty until loaded)."""
        return tuple(self._names)

    def clone(self, jobs: Sequence[CloneJob]) -> list[EngineResult | TTSRouterError]:
        """Clone every job; all their chunks are generated together."""
        with self._lock:
            model = self._require("base", "clone")
            started = time.perf_counter()
            prompts: list[Any] = []
            prompt_seconds: list[float] = []
            chunks: list[_Chunk] = []
            failed: dict[int, TTSRouterError] = {}
            for i, job in enumerate(jobs):
                t0 = time.perf_counter()
                prompt = None
                try:
                    prompt = self._prompt(model, job)
                    chunks += self._chunks(i, job)
                except Exception as exc:
                    failed[i] = _typed(exc)
                prompts.append(prompt)
                prompt_seconds.append(time.perf_counter() - t0)
            self._run(
                chunks,
                model.generate_voice_clone,
                language=[self._names.get(job.language) for job in jobs],
                voice_clone_prompt=prompts,
            )
            return [
                failed.get(i)
                or self._assemble(
                    [c for c in chunks if c.job == i],
                    _clone_mode(job),
                    {"prompt": prompt_seconds[i], "engine_total": time.perf_counter() - started},
                )
                for i, job in enumerate(jobs)
            ]

    def design(self, job: DesignJob) -> EngineResult:
        """Speak ``job.text`` in the voice ``job.instruct`` describes."""
        with self._lock:
            model = self._require("voice_design", "design")
            require_speakable(job.instruct, field="instruct")
            started = time.perf_counter()
            chunks = self._chunks(0, job)
            self._run(
                chunks,
                model.generate_voice_design,
                instruct=[job.instruct],
                language=[self._names[job.language]],
            )
            result = self._assemble(
                chunks, "design", {"engine_total": time.perf_counter() - started}
            )
            if isinstance(result, TTSRouterError):
                raise result
            return result

    def split(self, text: str, language: str) -> list[str]:
        """``text`` in the chunks this model generates it in (:mod:`.chunking`)."""
        return split_for_generation(
            text,
            language,
            self.config.max_new_tokens,
            frames_per_char=self.config.frames_per_char,
            ceiling=self.config.max_chunk_chars,
        )

    # -- the pieces ------------------------------------------------------------------------

    def _require(self, kind: str, operation: str) -> Any:
        if self._model is None:
            raise ProviderError("the model is not loaded yet", code="loading")
        if self._kind != kind:
            raise UnsupportedOperationError(
                f"this {self._variant} model cannot {operation}; load a "
                + ("Base" if kind == "base" else "VoiceDesign")
                + " model for it"
            )
        return self._model

    def _prompt(self, model: Any, job: CloneJob) -> Any:
        """The voice prompt for ``job``'s reference, from the cache or built once."""
        mode = _clone_mode(job)
        transcript_id = (
            hashlib.sha256(job.transcript.encode()).hexdigest() if job.transcript else ""
        )
        key: PromptKey = (job.reference_id, transcript_id, mode, self.source.location)
        cached = self.prompt_cache.get(key)
        if cached is not None:
            return cached
        reference = (
            np.ascontiguousarray(job.reference.samples, dtype=np.float32),
            job.reference.sample_rate,
        )
        (item,) = model.create_voice_clone_prompt(
            ref_audio=reference,  # never a string: qwen-tts would fetch or read it
            ref_text=job.transcript,
            x_vector_only_mode=mode == "x_vector",
        )
        self.prompts_built += 1
        self.prompt_cache.put(key, item)
        return item

    def _chunks(self, index: int, job: CloneJob | DesignJob) -> list[_Chunk]:
        """The chunks of ``job``, the ``index``-th job of a call."""
        if job.language not in self._names:
            raise UnsupportedLanguageError(
                f"language {job.language!r} is not spoken by this model", supported=self._names
            )
        pieces = self.split(job.text, job.language)
        if not pieces:
            raise ValidationError("the text has nothing to speak", code="empty_text")
        options = dict(job.options)
        return [_Chunk(index, i, piece, job.seed, options) for i, piece in enumerate(pieces)]

    def _run(
        self, chunks: list[_Chunk], generate: Callable[..., Any], **per_job: Sequence[Any]
    ) -> None:
        """Generate every chunk with ``generate`` (a ``generate_voice_*`` method: each row's
        ``per_job`` arguments are its job's) in calls of at most ``max_batch_items``, then
        hand cached memory back if there were at least ``release_memory_rows`` of them.

        With per-row sampling every chunk can share a call: its seed and options travel with
        its row. Otherwise (a model this engine cannot hook, an option only a whole call can
        take) chunks share a call only with the same seed and options, and a seed makes a
        job reproducible for the same batch composition only.
        """
        from .sampling import PER_ROW_OPTIONS

        groups: dict[tuple[Any, ...] | None, list[_Chunk]] = {}
        for chunk in chunks:
            key: tuple[Any, ...] | None = None
            if not (self._per_row and PER_ROW_OPTIONS.issuperset(chunk.options)):
                key = (chunk.seed, tuple(sorted(chunk.options.items())))
            groups.setdefault(key, []).append(chunk)
        size = self.config.max_batch_items
        for key, group in groups.items():
            for start in range(0, len(group), size):
                self._generate_batch(group[start : start + size], key, generate, per_job)
        threshold = self.config.release_memory_rows
        if threshold > 0 and len(chunks) >= threshold:
            started = time.perf_counter()
            release_memory(self._torch, self._device)
            self.memory_releases += 1
            logger.debug("released memory in %.3fs", time.perf_counter() - started)

    def _sampling(self, model: Any, rows: Sequence[_Chunk]) -> AbstractContextManager[Any]:
        """Per-row sampling for one call: each row draws with its chunk's seed and options."""
        if not self._per_row:
            return nullcontext()
        from .sampling import RowSampling, per_row_sampling, row_seed

        return per_row_sampling(
            model, [RowSampling(row_seed(c.seed, c.text), c.options) for c in rows]
        )

    def _generate_batch(
        self,
        batch: list[_Chunk],
        key: tuple[Any, ...] | None,
        generate: Callable[..., Any],
        per_job: Mapping[str, Sequence[Any]],
    ) -> None:
        """One generate call: per-row sampling if ``key`` is None, else with the call's
        ``key``: (seed, options)."""
        if key is None:
            sampling, options = self._sampling(self._model, batch), {}
        else:
            seed, items = key
            sampling, options = nullcontext(), dict(items)
            if seed is not None:
                self._torch.manual_seed(seed)
        started = time.perf_counter()
        try:
            with sampling:
                wavs, sample_rate = generate(
                    text=[c.text for c in batch],
                    **{name: [values[c.job] for c in batch] for name, values in per_job.items()},
                    max_new_tokens=self.config.max_new_tokens,
                    **options,
                )
            self.generate_calls += 1
        except Exception as exc:
            error = _typed(exc)
            for chunk in batch:
                chunk.error = error
            return
        seconds = time.perf_counter() - started
        for chunk, wav in zip(batch, wavs, strict=True):
            chunk.call, chunk.seconds = self.generate_calls, seconds
            try:
                chunk.audio = check_chunk(
                    wav,
                    sample_rate,
                    max_new_tokens=self.config.max_new_tokens,
                    text_chars=len(chunk.text),
                    min_seconds_per_char=self.config.min_seconds_per_char,
                )
            except TTSRouterError as exc:
                chunk.error = exc
        self._sample_rate = int(sample_rate)

    def _assemble(
        self, chunks: list[_Chunk], mode: CloneMode, timings: dict[str, float]
    ) -> EngineResult | TTSRouterError:
        """Stitch one job's chunks in order, or return its first chunk's error."""
        for chunk in chunks:
            if chunk.error is not None:
                return chunk.error
        audio = [c.audio for c in sorted(chunks, key=lambda c: c.index) if c.audio is not None]
        samples = stitch(audio, self._sample_rate, crossfade_ms=self.config.crossfade_ms)
        warnings = (chunked_warning(len(chunks)),) if len(chunks) > 1 else ()
        # A job's generate time: the calls its chunks were in (shared with other jobs).
        calls = {c.call: c.seconds for c in chunks}
        return EngineResult(
            samples=samples,
            sample_rate=self._sample_rate,
            mode=mode,
            model=self.model_name,
            timings={"generate": sum(calls.values()), **timings},
            warnings=warnings,
        )


def release_memory(torch: Any, device: str) -> None:
    """Return what a large batch left cached: its cyclic garbage, the CUDA caching
    allocator's free blocks, and (glibc) the free heap that malloc keeps after large CPU
    tensors.

    Measured on the tiny model on CPU after 16 rows: ``malloc_trim`` took RSS from 1.2-1.3 GB
    back to the idle 0.96 GB in ~15 ms; a young-generation collection takes <1 ms, while a full
    ``gc.collect()`` took 0.28 s (torch and transformers hold huge object graphs) and freed
    nothing measurable, so only the young generations are collected.
    """
    gc.collect(1)
    if device.startswith("cuda") and torch is not None:
        torch.cuda.empty_cache()
    trim = _malloc_trim()
    if trim is not None:
        trim(0)


@cache
def _malloc_trim() -> Callable[[int], int] | None:
    """glibc's ``malloc_trim`` (None elsewhere), looked up once."""
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        function: Callable[[int], int] = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return None
    return function


def _language_names(supported: Sequence[str]) -> dict[str, str]:
    """Canonical code -> the name qwen-tts validates (it lower-cases what it is given)."""
    names: dict[str, str] = {}
    for name in supported:
        try:
            code = normalize_language(name)
        except UnsupportedLanguageError:
            continue  # dialect names and the like: not in the router's table
        names[code] = "Auto" if code == AUTO else language_name(code)
    return names


def _clone_mode(job: CloneJob) -> CloneMode:
    return "icl" if job.transcript else "x_vector"


def _prompt_nbytes(item: Any) -> int:
    total = 0
    for tensor in (getattr(item, "ref_code", None), getattr(item, "ref_spk_embedding", None)):
        if tensor is not None:
            total += int(tensor.numel()) * int(tensor.element_size())
    return total


def _typed(exc: Exception) -> TTSRouterError:
    """A typed error for anything the model raised, never quoting its message (it may echo
    input): NaN in sampling is an output error, anything else an internal one."""
    if isinstance(exc, TTSRouterError):
        return exc
    text = str(exc).lower()
    if isinstance(exc, RuntimeError) and ("nan" in text or "inf" in text):
        return OutputValidationError(
            "sampling hit NaN/inf probabilities (on a GPU without bf16, load in float32)"
        )
    logger.error("generation failed (%s)", type(exc).__name__)
    return ProviderError(
        f"the model failed ({type(exc).__name__}); see the service logs", code="internal_error"
    )


def _qwen_version() -> str:
    try:
        return importlib.metadata.version("qwen-tts")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"
