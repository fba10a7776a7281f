"""What generated audio is acceptable: the checks between qwen-tts and the caller.

qwen-tts returns whatever the sampler made: a generation that reached ``max_new_tokens`` has
dropped the rest of its text without a flag, and random or half-precision failures show up as
NaN, silence or a blip. Each is an error here, never audio.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from tts_router.audio import validate_output_samples
from tts_router.errors import OutputValidationError, TruncatedOutputError

__all__ = ["FRAME_RATE_HZ", "check_chunk"]

FRAME_RATE_HZ = 12.5


def check_chunk(
    samples: npt.ArrayLike,
    sample_rate: int,
    *,
    max_new_tokens: int,
    text_chars: int,
    min_seconds_per_char: float,
) -> npt.NDArray[np.float32]:
    """Return the chunk as float32 mono, or raise why it is unusable.

    Truncation: a generation yields at most ``max_new_tokens - 1`` frames (the last sampled
    token never gets its other codebooks), and one that stops on EOS at the very last step
    looks the same; both count as truncated, because they cannot be told apart and the
    cautious reading loses no text. In ICL mode the wrapper's cut can leave one extra sample,
    hence the rounding to whole frames.
    """
    try:  # empty, NaN and silence: the core's one output validator
        wav = validate_output_samples(samples, sample_rate).samples
    except OutputValidationError as exc:
        if exc.code == "output_not_finite":
            exc.message += " (on a GPU without native bf16, load in float32)"
        raise
    frames = round(wav.size * FRAME_RATE_HZ / sample_rate)
    if frames >= max_new_tokens - 1:
        raise TruncatedOutputError(
            f"generation reached its cap of {max_new_tokens} codec tokens "
            f"(~{max_new_tokens / FRAME_RATE_HZ:.0f} s) before the end of a text chunk; "
            "use smaller chunks or a larger max_new_tokens"
        )
    seconds = wav.size / sample_rate
    if seconds < min_seconds_per_char * text_chars:
        raise OutputValidationError(
            f"the model produced {seconds:.2f} s for a {text_chars}-character chunk, "
            "far too short to be its speech"
        )
    return wav
