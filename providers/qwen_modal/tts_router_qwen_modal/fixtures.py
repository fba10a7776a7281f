"""Tiny random-weight Qwen3-TTS (12 Hz) model directories, built offline, for tests.

Tests cannot download the real checkpoints (1-4 GB), yet the provider must exercise the
real ``qwen_tts`` loading and generation code, with its slicing of token positions, its
batching and its codec. :func:`build_tiny_model` writes a directory in the exact on-disk
layout of ``Qwen/Qwen3-TTS-12Hz-*`` (``config.json``, ``generation_config.json``,
``model.safetensors``, a text tokenizer, ``speech_tokenizer/``) holding a ~1 M-parameter
random model, so that::

    Qwen3TTSModel.from_pretrained(str(path), device_map="cpu", dtype=torch.float32)

loads it with ``HF_HUB_OFFLINE=1`` and every generation method runs on CPU in well under
a second. The audio is noise; only shapes, lengths, dtypes and control flow are real.

Heavy imports (torch, transformers, qwen_tts) happen inside the functions: importing this
module must stay cheap (``import qwen_tts`` alone takes seconds).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, Literal

if TYPE_CHECKING:  # pragma: no cover - typing only
    import torch

__all__ = [
    "EARLY_EOS_FRAMES",
    "FRAME_SAMPLES",
    "SAMPLE_RATE",
    "TinyModelSpec",
    "Variant",
    "build_tiny_model",
    "expected_output_samples",
    "generated_frames",
    "reference_frames",
]

Variant = Literal["base", "voice_design"]
_VARIANTS: Final[tuple[str, ...]] = ("base", "voice_design")

SAMPLE_RATE: Final = 24_000
"""Output (and codec input) sample rate of every Qwen3-TTS 12 Hz model."""

FRAME_SAMPLES: Final = 1_920
"""Samples per codec frame (24 kHz / 12.5 Hz); the decoder's upsampling must multiply to it."""

EARLY_EOS_FRAMES: Final = 2
"""Frames of every output of an ``early_eos`` model: qwen-tts masks EOS for 2 steps
(``min_new_tokens=2``), and greedy decoding over all-equal logits then picks EOS (id 0)."""

# Text-side special tokens. The model code looks them up by id (config.json) and slices
# fixed token positions of "<|im_start|>assistant\n{text}<|im_end|>\n<|im_start|>assistant\n",
# so each of these, and "assistant", "user" and "\n", must be exactly one token.
_ENDOFTEXT: Final = "<|endoftext|>"
_IM_START: Final = "<|im_start|>"
_IM_END: Final = "<|im_end|>"
_TTS_PAD: Final = "<tts_pad>"
_TTS_BOS: Final = "<tts_text_bos>"
_TTS_EOD: Final = "<tts_text_eod>"
_TTS_BOS_SINGLE: Final = "<tts_text_bos_single>"
_SPECIAL_TOKENS: Final = (
    _ENDOFTEXT,
    _IM_START,
    _IM_END,
    _TTS_PAD,
    _TTS_BOS,
    _TTS_EOD,
    _TTS_BOS_SINGLE,
)
_SINGLE_TOKEN_WORDS: Final = ("assistant", "user", "\n")

# Qwen2's pre-tokenizer split pattern (the one shipped in Qwen tokenizer.json files).
_QWEN2_SPLIT_REGEX: Final = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

_LANGUAGES: Final = (
    "chinese",
    "english",
    "japanese",
    "korean",
    "german",
    "french",
    "russian",
    "portuguese",
    "spanish",
    "italian",
)

_TRAINING_TEXT: Final = (
    "Hello world. This is a tiny test model for speech synthesis.",
    "The quick brown fox jumps over the lazy dog, 0123456789 times!",
    "Bonjour le monde. Hallo Welt. Hola mundo. Ciao mondo. Olá mundo.",
    "Привет мир. 你好世界 こんにちは世界 안녕하세요 세계.",
    "A calm, warm female voice speaking slowly; a deep male voice, excited.",
)


@dataclass(frozen=True)
class TinyModelSpec:
    """Sizes of the tiny model; each constraint below was confirmed by breaking it.

    ``codebook_size`` must be a power of two for the codec, and the talker's codec
    vocabulary must be at least ``codebook_size + 1024``: ``generate()`` suppresses the
    top 1024 ids (all special codec ids but EOS), so a smaller vocabulary suppresses real
    codes or everything (``probability tensor contains inf/nan``).
    """

    hidden_size: int = 64
    intermediate_size: int = 128
    num_layers: int = 2
    num_heads: int = 2
    num_kv_heads: int = 1
    head_dim: int = 32
    num_code_groups: int = 16
    codebook_size: int = 64
    text_vocab_size: int = 512
    default_max_new_tokens: int = 64

    @property
    def codec_vocab_size(self) -> int:
        """Talker codec vocabulary: codes, then 1024 ids for specials (as upstream)."""
        return self.codebook_size + 1024

    @property
    def mrope_section(self) -> list[int]:
        """M-RoPE split of head_dim/2 over (time, height, width), like [24, 20, 20] for 128."""
        half = self.head_dim // 2
        rest = half // 4
        return [half - 2 * rest, rest, rest]


_SPEC: Final = TinyModelSpec()


@dataclass(frozen=True)
class _CodecIds:
    """Special ids of the talker's codec vocabulary, above the codebook like upstream's."""

    pad: int
    bos: int
    eos: int
    think: int
    nothink: int
    think_bos: int
    think_eos: int
    languages: dict[str, int]

    @classmethod
    def for_spec(
        cls, spec: TinyModelSpec, *, eos_disabled: bool, early_eos: bool = False
    ) -> _CodecIds:
        """Lay the ids out at upstream's offsets from the codebook (2048 -> 2148...).

        With ``eos_disabled`` EOS becomes an id past the vocabulary: no logit can ever
        produce it (zeroing its head row only makes it rare: a 0 logit still wins
        sometimes), and the real EOS slot falls into the suppressed range.
        """
        base = spec.codebook_size
        eos = spec.codec_vocab_size if eos_disabled else base + 102
        if early_eos:
            # Id 0: with a zero codec head every logit ties, and greedy argmax picks the lowest
            # allowed id: code 1 while EOS is masked, then EOS.
            eos = 0
        return cls(
            pad=base + 100,
            bos=base + 101,
            eos=eos,
            think=base + 106,
            nothink=base + 107,
            think_bos=base + 108,
            think_eos=base + 109,
            languages={lang: base + 2 + i for i, lang in enumerate(_LANGUAGES)},
        )


def generated_frames(max_new_tokens: int) -> int:
    """Codec frames a generation yields when EOS never comes: ``max_new_tokens - 1``.

    The talker's ``generate()`` samples one first-codebook token per step, but a token's
    other 15 codebooks are predicted in the *next* forward pass; the last sampled token
    never gets one, so the prefill step contributes no frame.
    """
    return max(max_new_tokens - 1, 0)


def expected_output_samples(max_new_tokens: int, ref_frames: int = 0) -> int:
    """Exact output length in samples of one item generated with EOS disabled.

    Without a reference (x-vector clone, voice design) this is
    ``(max_new_tokens - 1) * 1920``. In ICL clone mode the wrapper decodes reference and
    new codes together and cuts ``int(ref / total * len)`` samples off the front; the float
    division can round down, leaving one extra sample (e.g. ref 15, total 22).
    ``ref_frames`` is ``ceil(len(ref_audio_at_24k) / 1920)``.
    """
    frames = generated_frames(max_new_tokens)
    total = ref_frames + frames
    total_samples = total * FRAME_SAMPLES
    return total_samples - int(ref_frames / max(total, 1) * total_samples)


def build_tiny_model(
    target_dir: Path,
    *,
    variant: Variant = "base",
    seed: int = 0,
    eos_disabled: bool = False,
    early_eos: bool = False,
) -> Path:
    """Write a tiny random Qwen3-TTS 12 Hz model into ``target_dir`` and return it.

    ``variant`` picks ``tts_model_type``: "base" (voice clone, has a speaker encoder) or
    "voice_design" (voice from an instruction). ``seed`` makes the weights reproducible
    without touching the caller's global RNG. ``eos_disabled`` makes every output exactly
    :func:`generated_frames` frames long, for deterministic length tests; every generation
    then hits its ``max_new_tokens`` cap (a truncation, as an engine must report it).
    ``early_eos`` makes every output end on EOS after exactly :data:`EARLY_EOS_FRAMES` frames,
    under any cap above 3, with greedy decoding (the audio depends only on the input): exact
    lengths without truncation.
    """
    if variant not in _VARIANTS:
        raise ValueError(f"variant must be one of {_VARIANTS}, got {variant!r}")
    if eos_disabled and early_eos:
        raise ValueError("eos_disabled and early_eos are mutually exclusive")
    import torch

    target_dir = Path(target_dir)
    target_dir.mkdir(parents=True, exist_ok=True)
    token_ids = _write_text_tokenizer(target_dir, _SPEC)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        _write_speech_tokenizer(target_dir / "speech_tokenizer", _SPEC)
        _write_tts_model(
            target_dir,
            _SPEC,
            variant,
            token_ids,
            eos_disabled=eos_disabled,
            early_eos=early_eos,
        )
    return target_dir


# --------------------------------------------------------------------------- text tokenizer


def _train_bpe(spec: TinyModelSpec) -> Any:
    """Train a byte-level BPE shaped like Qwen2's (Split regex, then ByteLevel), in-process.

    Kept as a Sequence with the Split first, like Qwen's tokenizer.json: for vocabularies
    over 100k, transformers 4.57.3 (called with ``fix_mistral_regex=True`` by qwen_tts) may
    swap element 0 for another regex. At this size it leaves the tokenizer alone.
    """
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(_QWEN2_SPLIT_REGEX), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=spec.text_vocab_size,
        special_tokens=list(_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    # "assistant" and "user" repeated so they merge into single tokens.
    corpus = list(_TRAINING_TEXT) + ["assistant\nuser\n"] * 50
    tokenizer.train_from_iterator(corpus, trainer=trainer)
    return tokenizer


def _write_text_tokenizer(target_dir: Path, spec: TinyModelSpec) -> dict[str, int]:
    """Save the BPE through the qwen-tts processor and return the special token ids."""
    from qwen_tts.core.models import Qwen3TTSProcessor
    from transformers import Qwen2TokenizerFast

    fast = Qwen2TokenizerFast(  # type: ignore[no-untyped-call]
        tokenizer_object=_train_bpe(spec),
        unk_token=None,
        bos_token=None,
        eos_token=_ENDOFTEXT,
        pad_token=_ENDOFTEXT,
    )
    fast.add_special_tokens({"additional_special_tokens": list(_SPECIAL_TOKENS[1:])})
    _check_single_tokens(fast)
    Qwen3TTSProcessor(tokenizer=fast).save_pretrained(str(target_dir))
    return {tok: _token_id(fast, tok) for tok in _SPECIAL_TOKENS}


def _token_id(tokenizer: Any, token: str) -> int:
    """Id of one token (convert_tokens_to_ids is typed to also return lists)."""
    token_id = tokenizer.convert_tokens_to_ids(token)
    if not isinstance(token_id, int):
        raise TypeError(f"no single id for {token!r}")
    return token_id


def _check_single_tokens(tokenizer: Any) -> None:
    """Fail loudly if a token the model slices by position is split: misalignment is silent."""
    for word in _SPECIAL_TOKENS + _SINGLE_TOKEN_WORDS:
        ids = tokenizer.encode(word, add_special_tokens=False)
        if len(ids) != 1:
            raise RuntimeError(f"tiny tokenizer splits {word!r} into {len(ids)} tokens")


# --------------------------------------------------------------------------- speech tokenizer


def _speech_tokenizer_config(spec: TinyModelSpec) -> dict[str, Any]:
    """Codec config: a tiny Mimi encoder (for reference audio) and the 12 Hz decoder.

    Encoder: 8*6*5*4 = 960 samples per 25 Hz frame, downsampled x2 to 12.5 Hz.
    Decoder: 8*5*4*3 * 2*2 = 1920 samples per frame, matching ``decode_upsample_rate``
    (the wrapper trims each wav to frames * 1920, so any other product misaligns).
    """
    encoder = {
        "sampling_rate": SAMPLE_RATE,
        "frame_rate": 12.5,
        "audio_channels": 1,
        "hidden_size": 32,
        "num_filters": 4,
        "num_residual_layers": 1,
        "upsampling_ratios": [8, 6, 5, 4],
        "codebook_size": spec.codebook_size,
        "codebook_dim": 32,
        "vector_quantization_hidden_dimension": 32,
        "num_quantizers": spec.num_code_groups,
        "num_semantic_quantizers": 1,
        "upsample_groups": 32,
        "num_hidden_layers": 1,
        "intermediate_size": 64,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "sliding_window": 250,
        "max_position_embeddings": 8000,
        "use_cache": False,
    }
    decoder = {
        "codebook_size": spec.codebook_size,
        "codebook_dim": 32,
        "hidden_size": 32,
        "latent_dim": 32,
        "decoder_dim": 32,
        "num_hidden_layers": 1,
        "num_attention_heads": 2,
        "num_key_value_heads": 2,
        "intermediate_size": 64,
        "num_quantizers": spec.num_code_groups,
        "sliding_window": 72,
        "upsample_rates": [8, 5, 4, 3],
        "upsampling_ratios": [2, 2],
        "max_position_embeddings": 8000,
    }
    return {
        "encoder_config": encoder,
        "decoder_config": decoder,
        "encoder_valid_num_quantizers": spec.num_code_groups,
        "input_sample_rate": SAMPLE_RATE,
        "output_sample_rate": SAMPLE_RATE,
        "decode_upsample_rate": FRAME_SAMPLES,
        "encode_downsample_rate": FRAME_SAMPLES,
    }


def _write_speech_tokenizer(out_dir: Path, spec: TinyModelSpec) -> None:
    """Build the codec with random weights and save it with its feature extractor."""
    from qwen_tts.core import Qwen3TTSTokenizerV2Config, Qwen3TTSTokenizerV2Model
    from transformers import EncodecFeatureExtractor

    model = Qwen3TTSTokenizerV2Model(Qwen3TTSTokenizerV2Config(**_speech_tokenizer_config(spec)))
    _randomise_codebooks(model)
    _make_audible(model)
    model.save_pretrained(str(out_dir), safe_serialization=True)
    EncodecFeatureExtractor(
        feature_size=1,
        sampling_rate=SAMPLE_RATE,
        padding_value=0.0,
        return_attention_mask=True,
    ).save_pretrained(str(out_dir))


# Small random init through ~20 layers leaves the decoder's output near 1e-8 (-160 dBFS):
# every output would be "silence" to an output validator. Scaling the last convolution brings
# it to roughly -15 dBFS; the decoder clamps to [-1, 1] anyway.
_OUTPUT_GAIN: Final = 2e7


def _make_audible(model: torch.nn.Module) -> None:
    """Scale the decoder's final convolution so random codes decode to audible noise."""
    import torch

    final = model.decoder.decoder[-1].conv  # type: ignore[union-attr, index]
    with torch.no_grad():
        final.weight.mul_(_OUTPUT_GAIN)


def _randomise_codebooks(model: torch.nn.Module) -> None:
    """Give every codebook random centroids: both start as zeros.

    Zero encoder centroids quantise every reference frame to code 0, and zero decoder
    centroids make the audio independent of the codes, which would hide bugs.
    """
    import torch

    for name, tensor in list(model.named_parameters()) + list(model.named_buffers()):
        if name.endswith(("embed_sum", "embedding_sum")):
            with torch.no_grad():
                tensor.copy_(torch.randn_like(tensor))


# --------------------------------------------------------------------------- TTS model


def _tts_config(
    spec: TinyModelSpec,
    variant: str,
    token_ids: dict[str, int],
    codec: _CodecIds,
) -> dict[str, Any]:
    """Top-level config.json content; ``tts_model_type`` selects the variant's API."""
    # The talker and its code predictor share one transformer shape (no projection between).
    shape = {
        "hidden_size": spec.hidden_size,
        "intermediate_size": spec.intermediate_size,
        "num_hidden_layers": spec.num_layers,
        "num_attention_heads": spec.num_heads,
        "num_key_value_heads": spec.num_kv_heads,
        "head_dim": spec.head_dim,
        "num_code_groups": spec.num_code_groups,
    }
    code_predictor = {**shape, "vocab_size": spec.codebook_size, "max_position_embeddings": 64}
    talker = {
        **shape,
        "code_predictor_config": code_predictor,
        "vocab_size": spec.codec_vocab_size,
        "text_hidden_size": spec.hidden_size,
        "text_vocab_size": spec.text_vocab_size,
        "max_position_embeddings": 4096,
        "rope_scaling": {
            "rope_type": "default",
            "mrope_section": spec.mrope_section,
            "interleaved": True,
        },
        "codec_eos_token_id": codec.eos,
        "codec_pad_id": codec.pad,
        "codec_bos_id": codec.bos,
        "codec_think_id": codec.think,
        "codec_nothink_id": codec.nothink,
        "codec_think_bos_id": codec.think_bos,
        "codec_think_eos_id": codec.think_eos,
        "codec_language_id": codec.languages,
        "spk_id": {},
        "spk_is_dialect": {},
    }
    speaker_encoder = {
        # enc_dim must equal the talker's hidden size: the x-vector is spliced into the
        # codec embedding sequence. mel_dim is fixed at 128 by extract_speaker_embedding.
        "mel_dim": 128,
        "enc_dim": spec.hidden_size,
        "enc_channels": [32, 32, 32, 32, 96],
        "enc_kernel_sizes": [5, 3, 3, 3, 1],
        "enc_dilations": [1, 2, 3, 4, 1],
        "enc_attention_channels": 16,
        "enc_res2net_scale": 4,
        "enc_se_channels": 16,
        "sample_rate": SAMPLE_RATE,
    }
    return {
        "talker_config": talker,
        "speaker_encoder_config": speaker_encoder,
        "tokenizer_type": "qwen3_tts_tokenizer_12hz",
        "tts_model_size": "tiny",
        "tts_model_type": variant,
        "im_start_token_id": token_ids[_IM_START],
        "im_end_token_id": token_ids[_IM_END],
        "tts_pad_token_id": token_ids[_TTS_PAD],
        "tts_bos_token_id": token_ids[_TTS_BOS],
        "tts_eos_token_id": token_ids[_TTS_EOD],
    }


def _write_tts_model(
    target_dir: Path,
    spec: TinyModelSpec,
    variant: str,
    token_ids: dict[str, int],
    *,
    eos_disabled: bool,
    early_eos: bool = False,
) -> None:
    """Instantiate the talker (+ speaker encoder for "base") and save it."""
    from qwen_tts.core.models import Qwen3TTSConfig, Qwen3TTSForConditionalGeneration

    codec = _CodecIds.for_spec(spec, eos_disabled=eos_disabled, early_eos=early_eos)
    config = Qwen3TTSConfig(**_tts_config(spec, variant, token_ids, codec))
    model = Qwen3TTSForConditionalGeneration(config)
    if early_eos:
        _zero_codec_head(model)
    model.save_pretrained(str(target_dir), safe_serialization=True)
    _fix_saved_config(target_dir / "config.json")
    _write_generation_config(target_dir / "generation_config.json", spec, greedy=early_eos)


def _zero_codec_head(model: Any) -> None:
    """Make every first-codebook logit 0, so greedy decoding is decided by id order alone."""
    import torch

    with torch.no_grad():
        model.talker.codec_head.weight.zero_()


def _fix_saved_config(path: Path) -> None:
    """Drop the ``"model_type": ""`` that save_pretrained writes into speaker_encoder_config.

    Qwen3TTSSpeakerEncoderConfig has no model_type and its __init__ takes no **kwargs, so
    loading the saved file fails with "unexpected keyword argument 'model_type'".
    """
    config = json.loads(path.read_text(encoding="utf-8"))
    config.get("speaker_encoder_config", {}).pop("model_type", None)
    path.write_text(json.dumps(config, indent=2, sort_keys=True), encoding="utf-8")


def _write_generation_config(path: Path, spec: TinyModelSpec, *, greedy: bool = False) -> None:
    """Sampling defaults as upstream's, but a small token cap so a forgotten limit stays fast.

    qwen_tts reads this file as a plain dict of defaults for its generate_* methods.
    ``greedy`` turns sampling off in the talker and the code predictor (deterministic audio).
    """
    defaults = {
        "do_sample": not greedy,
        "top_k": 50,
        "top_p": 1.0,
        "temperature": 0.9,
        "repetition_penalty": 1.05,
        "subtalker_dosample": not greedy,
        "subtalker_top_k": 50,
        "subtalker_top_p": 1.0,
        "subtalker_temperature": 0.9,
        "max_new_tokens": spec.default_max_new_tokens,
    }
    path.write_text(json.dumps(defaults, indent=2), encoding="utf-8")


def reference_frames(num_samples: int, sample_rate: int = SAMPLE_RATE) -> int:
    """Codec frames of a reference clip (at 24 kHz after resampling): ``ceil(n / 1920)``."""
    samples_24k = num_samples
    if sample_rate != SAMPLE_RATE:
        samples_24k = round(num_samples * SAMPLE_RATE / sample_rate)
    return math.ceil(samples_24k / FRAME_SAMPLES)
