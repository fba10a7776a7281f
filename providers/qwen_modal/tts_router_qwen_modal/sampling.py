"""Per-row sampling for qwen-tts: each row of a batched generate call draws from its own stream.

Why: qwen-tts samples through transformers' ``generate()`` twice per codec frame (the talker
picks the first codebook, then the code predictor's own ``generate()`` picks the other 15), and
both draw with ``torch.multinomial`` from torch's one global generator, with one set of
sampling options per call. A seed set with ``torch.manual_seed`` therefore reproduces a
request only when the whole batch around it is the same, so the engine used to run every
(seed, options) group as its own generate call: 16 seeded requests were 16 calls.

How (qwen-tts 0.1.1, transformers 4.57):

- For the duration of one generate call, :func:`per_row_sampling` shadows ``generate`` on the
  model's talker and code-predictor *instances* (nothing global is patched) with wrappers that
  add one :class:`RowSampler` logits processor and switch transformers to greedy decoding
  with neutral options (``do_sample=False``, temperature 1, no top-k/top-p filtering, no
  repetition penalty). transformers runs its own processors first (``min_new_tokens``,
  ``suppress_tokens``), then ours.
- :class:`RowSampler` applies each row's own options (repetition penalty, temperature, top-k,
  top-p, greedy or not, in transformers' order), picks one token per row by the Gumbel-max
  trick (``argmax(logits + Gumbel noise)`` draws exactly from ``softmax(logits)``) and hands
  back scores that are 0 at that token and -inf elsewhere, so transformers' argmax takes it.
- The noise is a counter-based hash, not a stateful generator: the uniform number for row
  ``r`` and token ``v`` is ``hash(row key r, stream, frame, sub-step, v)``. The row key comes
  from the request's seed and the chunk's text; the frame and sub-step are read from the
  lengths transformers passes in (the talker's ``input_ids`` hold only generated tokens; the
  code predictor's one frame's codebooks), never from how many calls came before. So a row's
  draws do not depend on which rows share its batch, how long they run, or where it sits.
  The hash runs on the device, vectorised over rows and tokens, once per frame for all 15
  code-predictor steps: a few elementwise kernels, against B generator calls per step for
  per-row ``torch.Generator`` objects (generation is kernel-launch bound).

What it cannot promise: bit-identical logits. A row computed in a batch of 8 goes through
other matrix shapes (and left padding) than alone; in float32 on CPU the results agree (the
tests check), while bfloat16 kernels on a GPU may differ in the last bits, and a near-tie
between two tokens can then fall the other way. The random stream is per row whatever the
batch; only batch-invariant kernels would make the logits so.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Final

import torch

__all__ = [
    "PER_ROW_OPTIONS",
    "RowSampler",
    "RowSampling",
    "per_row_sampling",
    "row_seed",
    "supports_per_row",
]

_M32: Final = 0xFFFFFFFF
_M64: Final = 0xFFFFFFFFFFFFFFFF

TALKER_OPTIONS: Final = ("do_sample", "temperature", "top_k", "top_p", "repetition_penalty")
"""The talker's sampling knobs, as qwen-tts's generate_* methods name them."""
SUBTALKER_OPTIONS: Final = (
    "subtalker_dosample",
    "subtalker_temperature",
    "subtalker_top_k",
    "subtalker_top_p",
)
"""The code predictor's knobs; each maps to the plain name in its ``generate()``."""
PER_ROW_OPTIONS: Final = frozenset(TALKER_OPTIONS + SUBTALKER_OPTIONS)
"""Options a row may set for itself; any other option needs a generate call of its own."""

_NEUTRAL: Final[dict[str, Any]] = {
    # Greedy with transformers' defaults: it applies no warper and warns about nothing.
    "do_sample": False,
    "temperature": 1.0,
    "top_k": 50,
    "top_p": 1.0,
    "repetition_penalty": 1.0,
}
_TALKER_STREAM: Final = 0
_PREDICTOR_STREAM: Final = 1


@dataclass(frozen=True, slots=True)
class RowSampling:
    """One row of a generate call: its stream key and its own sampling options."""

    seed: int
    """0 to 2**64 - 1: the row's stream (see :func:`row_seed`)."""
    options: Mapping[str, float | int] = field(default_factory=dict)
    """Overrides of the call's options, keys from :data:`PER_ROW_OPTIONS`."""


def row_seed(seed: int | None, text: str) -> int:
    """The stream key of one chunk: its request's seed mixed with the chunk's text.

    The text keeps the chunks of one seeded request on different streams, and makes a
    chunk's draws the same whether the engine or the service's scheduler cut the text.
    No seed: a fresh random key (the row is not reproducible, as asked).
    """
    if seed is None:
        return secrets.randbits(64)
    digest = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
    return _splitmix64(_splitmix64(seed & _M64) ^ digest)


def supports_per_row(model: Any) -> bool:
    """Whether ``model`` (a ``Qwen3TTSModel``) has the talker and code predictor this module
    hooks; a stand-in without them is sampled the old way (one call per seed and options)."""
    talker = getattr(getattr(model, "model", None), "talker", None)
    predictor = getattr(talker, "code_predictor", None)
    return callable(getattr(talker, "generate", None)) and callable(
        getattr(predictor, "generate", None)
    )


@contextmanager
def per_row_sampling(model: Any, rows: Sequence[RowSampling]) -> Iterator[None]:
    """Within this block, the next generate calls of ``model`` sample row ``i`` with
    ``rows[i]``: its own stream and options (the call's options are the defaults).

    The caller serialises calls on one model (the engine's lock); the hooks are instance
    attributes removed on exit, so the class's methods are untouched.
    """
    from transformers import LogitsProcessorList

    talker = model.model.talker
    predictor = talker.code_predictor
    clock = _Clock()
    talker_generate = talker.generate
    predictor_generate = predictor.generate

    def talker_hook(*args: Any, **kwargs: Any) -> Any:
        defaults = _call_options(talker, kwargs)
        sampler = RowSampler(rows, defaults, stream=_TALKER_STREAM, clock=clock)
        kwargs.update(_NEUTRAL, logits_processor=LogitsProcessorList([sampler]))
        return talker_generate(*args, **kwargs)

    samplers: dict[tuple[Any, ...], RowSampler] = {}

    def predictor_hook(*args: Any, **kwargs: Any) -> Any:
        defaults = _call_options(predictor, kwargs)
        key = tuple(defaults.values())
        if key not in samplers:  # once per talker call: the defaults never change in it
            sub_rows = [RowSampling(r.seed, _subtalker_options(r.options)) for r in rows]
            steps = int(kwargs.get("max_new_tokens") or 1)  # one frame's draws, hashed at once
            samplers[key] = RowSampler(
                sub_rows, defaults, stream=_PREDICTOR_STREAM, clock=clock, steps=steps
            )
        kwargs.update(_NEUTRAL, logits_processor=LogitsProcessorList([samplers[key]]))
        return predictor_generate(*args, **kwargs)

    # (module, its generate, whether that was an instance attribute to put back)
    saved = [(m, m.generate, "generate" in vars(m)) for m in (talker, predictor)]
    talker.generate = talker_hook
    predictor.generate = predictor_hook
    try:
        yield
    finally:
        for module, generate, own in saved:
            if own:
                module.generate = generate
            else:
                del module.generate


@dataclass(slots=True)
class _Clock:
    """The codec frame the talker is on, for the code predictor's draws of that frame."""

    frame: int = 0


class RowSampler:
    """A transformers logits processor (called with ``input_ids`` and ``scores``) that samples
    one token per row from that row's stream with that row's options, and returns scores that
    are 0 at the chosen token and -inf elsewhere, for a greedy ``generate()`` to pick."""

    def __init__(
        self,
        rows: Sequence[RowSampling],
        defaults: Mapping[str, Any],
        *,
        stream: int,
        clock: _Clock,
        steps: int = 1,
    ) -> None:
        self.rows = tuple(rows)
        self.stream = stream
        self.clock = clock
        self.steps = steps
        self.settings = [_settings(defaults, row.options) for row in self.rows]
        self._device: torch.device | None = None
        self._tensors: dict[str, torch.Tensor] = {}
        self._noise: torch.Tensor | None = None
        self._noise_frame = -1
        self._kmax = 0
        self._all_greedy = all(not s.do_sample for s in self.settings)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if scores.shape[0] != len(self.rows):
            raise RuntimeError(
                f"per-row sampling expected {len(self.rows)} rows, got {scores.shape[0]}"
            )
        t = self._prepare(scores)
        step = int(input_ids.shape[1])
        if self.stream == _TALKER_STREAM:
            self.clock.frame = step
            frame, sub = step, 0
        else:
            frame, sub = self.clock.frame, step
        scores = scores.float()
        if "penalty" in t and step > 0:
            taken = torch.gather(scores, 1, input_ids)
            penalty = t["penalty"]
            taken = torch.where(taken < 0, taken * penalty, taken / penalty)
            scores = scores.scatter(1, input_ids, taken)
        if self._all_greedy:
            chosen = torch.argmax(scores, dim=-1)
        else:
            chosen = self._sample(scores, t, frame, sub)
            if "greedy" in t:
                chosen = torch.where(t["greedy"], torch.argmax(scores, dim=-1), chosen)
        out = torch.full_like(scores, float("-inf"))
        return out.scatter_(1, chosen.unsqueeze(1), 0.0)

    def _sample(
        self, scores: torch.Tensor, t: Mapping[str, torch.Tensor], frame: int, sub: int
    ) -> torch.Tensor:
        if "temperature" in t:
            scores = scores / t["temperature"]
        if "top_k" in t:  # transformers' TopKLogitsWarper, with k per row
            kth = torch.topk(scores, self._kmax, dim=-1).values.gather(1, t["top_k"])
            scores = scores.masked_fill(scores < kth, float("-inf"))
        if "top_p" in t:  # transformers' TopPLogitsWarper, with p per row
            sorted_logits, sorted_indices = torch.sort(scores, descending=False)
            cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
            remove = cumulative <= (1 - t["top_p"])
            remove[..., -1:] = False
            remove = remove.scatter(1, sorted_indices, remove)
            scores = scores.masked_fill(remove, float("-inf"))
        return torch.argmax(scores + self._gumbel(scores, t, frame, sub), dim=-1)

    def _gumbel(
        self, scores: torch.Tensor, t: Mapping[str, torch.Tensor], frame: int, sub: int
    ) -> torch.Tensor:
        """Gumbel noise [rows, vocab] for this draw: from the cache of the frame's steps."""
        if sub < self.steps:
            if self._noise is None or self._noise_frame != frame:
                self._noise = _gumbel_noise(t, self.stream, frame, 0, self.steps, scores.shape[1])
                self._noise_frame = frame
            return self._noise[:, sub]
        return _gumbel_noise(t, self.stream, frame, sub, 1, scores.shape[1])[:, 0]

    def _prepare(self, scores: torch.Tensor) -> dict[str, torch.Tensor]:
        """The per-row tensors, built once on the scores' device (one copy per call)."""
        if self._device == scores.device:
            return self._tensors
        device, vocab = scores.device, int(scores.shape[1])
        rows = self.settings
        keys = [_splitmix64(row.seed) for row in self.rows]

        def column(values: list[Any], dtype: torch.dtype) -> torch.Tensor:
            return torch.tensor(values, dtype=dtype, device=device).unsqueeze(1)

        t: dict[str, torch.Tensor] = {
            "key_lo": column([k & _M32 for k in keys], torch.int64),
            "key_hi": column([k >> 32 for k in keys], torch.int64),
            "vocab": _mix32(torch.arange(vocab, dtype=torch.int64, device=device) ^ 0x5BD1E995),
        }
        if any(s.repetition_penalty != 1.0 for s in rows):
            t["penalty"] = column([s.repetition_penalty for s in rows], torch.float32)
        if any(not s.do_sample for s in rows):
            t["greedy"] = torch.tensor([not s.do_sample for s in rows], device=device)
        if any(s.temperature != 1.0 for s in rows):
            t["temperature"] = column([s.temperature for s in rows], torch.float32)
        ks = [min(s.top_k, vocab) if s.top_k > 0 else vocab for s in rows]
        self._kmax = max(ks)
        if min(ks) < vocab:
            t["top_k"] = column([k - 1 for k in ks], torch.int64)
        if any(s.top_p < 1.0 for s in rows):
            t["top_p"] = column([s.top_p for s in rows], torch.float32)
        self._device, self._tensors = device, t
        return t


@dataclass(frozen=True, slots=True)
class _Settings:
    do_sample: bool
    temperature: float
    top_k: int
    top_p: float
    repetition_penalty: float


def _call_options(module: Any, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The sampling options one ``generate()`` call would have used: its arguments, else the
    module's generation config (as transformers resolves them)."""
    config = getattr(module, "generation_config", None)
    return {
        name: kwargs[name] if name in kwargs else getattr(config, name, None)
        for name in TALKER_OPTIONS
    }


def _settings(defaults: Mapping[str, Any], options: Mapping[str, Any]) -> _Settings:
    """A row's options over the call's; None as transformers reads it (off, greedy)."""

    def pick(name: str, fallback: Any) -> Any:
        value = options.get(name)
        if value is None:
            value = defaults.get(name)
        return fallback if value is None else value

    return _Settings(
        do_sample=bool(pick("do_sample", False)),
        temperature=float(pick("temperature", 1.0)),
        top_k=int(pick("top_k", 0)),
        top_p=float(pick("top_p", 1.0)),
        repetition_penalty=float(pick("repetition_penalty", 1.0)),
    )


def _subtalker_options(options: Mapping[str, float | int]) -> dict[str, float | int]:
    """A row's code-predictor overrides, under the names its ``generate()`` uses."""
    names = dict(zip(SUBTALKER_OPTIONS, TALKER_OPTIONS, strict=False))  # the first four
    return {names[k]: v for k, v in options.items() if k in names}


def _gumbel_noise(
    t: Mapping[str, torch.Tensor], stream: int, frame: int, first: int, steps: int, vocab: int
) -> torch.Tensor:
    """Gumbel(0, 1) noise [rows, steps, vocab] for draws ``first..first+steps-1`` of
    ``frame`` on ``stream``: a pure function of the row keys and these numbers."""
    offsets = torch.arange(steps, dtype=torch.int64, device=t["key_lo"].device)
    counter = ((frame * 1024 + first) * 2 + stream + offsets * 2) & _M32  # no host copy
    step = _mix32(counter).view(1, steps, 1)
    keyed = _mix32(t["key_lo"].unsqueeze(2) ^ step)  # [rows, steps, 1]
    bits = _mix32(_mix32(keyed ^ t["vocab"].view(1, 1, vocab)) ^ t["key_hi"].unsqueeze(2))
    uniform = ((bits >> 8).to(torch.float32) + 0.5) * (1.0 / (1 << 24))  # in (0, 1)
    return -torch.log(-torch.log(uniform))


def _mix32(x: torch.Tensor) -> torch.Tensor:
    """A 32-bit integer hash (Wellons' lowbias32 family) on int64 tensors holding values
    below 2**32; multipliers below 2**31 keep every product inside int64."""
    x = x ^ (x >> 16)
    x = (x * 0x21F0AAAD) & _M32
    x = x ^ (x >> 15)
    x = (x * 0x735A2D97) & _M32
    return x ^ (x >> 15)


def _splitmix64(x: int) -> int:
    """SplitMix64's finaliser: spreads a 64-bit seed over all bits."""
    x = (x + 0x9E3779B97F4A7C15) & _M64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _M64
    return x ^ (x >> 31)
