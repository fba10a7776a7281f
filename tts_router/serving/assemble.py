"""One job's answer from its chunks' audio: stitched, with the stages timed once per call."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ..audio import stitch
from ..errors import OutputValidationError, TTSRouterError
from ..text import merge_chunked_warnings
from .contract import EngineResult

__all__ = ["CROSSFADE_MS", "assemble"]

CROSSFADE_MS = 10.0


def assemble(
    chunks: Sequence[tuple[EngineResult, int]], queue_s: float
) -> EngineResult | TTSRouterError:
    """Join the chunks (in order, each with the engine call that made it) into one result.

    Chunks generated in one engine call share its timings, so each call counts once per stage.
    """
    results = [result for result, _ in chunks]
    first = results[0]
    timings: dict[str, float] = {"queue": queue_s}
    per_call: dict[int, dict[str, float]] = {}
    for result, call in chunks:
        stages = per_call.setdefault(call, {})
        for stage, seconds in result.timings.items():
            stages[stage] = max(stages.get(stage, 0.0), seconds)
    for stages in per_call.values():
        for stage, seconds in stages.items():
            timings[stage] = timings.get(stage, 0.0) + seconds
    if len(results) == 1:
        return dataclasses.replace(first, timings=timings)
    if any(result.sample_rate != first.sample_rate for result in results):
        return OutputValidationError(
            "the engine returned the chunks of one text at different sample rates",
            code="output_rate_mismatch",
        )
    warnings = tuple(merge_chunked_warnings([result.warnings for result in results]))
    samples = stitch([r.samples for r in results], first.sample_rate, CROSSFADE_MS)
    return EngineResult(samples, first.sample_rate, first.mode, first.model, timings, warnings)
