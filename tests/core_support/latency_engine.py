"""A tone engine that takes time like a GPU, splits text like a real engine and logs its calls.

Each call sleeps ``per_call + per_item * len(jobs) + per_char * longest`` seconds (a batch
costs more than one item, less than one call per item; ``longest``: the longest text in the
call, as an autoregressive batch runs as long as its longest row). ``split`` makes the service
queue each chunk of ``chunk_chars`` as its own work item. ``calls`` records the chunk texts of
every engine call, so tests count exactly what was generated (give each job a unique text). A
``gate`` holds every call until it is set; ``entered`` is set when a call starts. Any call that
includes a chunk with ``POISON`` raises, as a batch that one bad request crashes.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence

from core_support.tone_service import ToneEngine
from tts_router.errors import TTSRouterError
from tts_router.serving import CloneJob, DesignJob, EngineResult
from tts_router.text import split_text

POISON = "POISON"


class LatencyEngine(ToneEngine):
    def __init__(
        self,
        *,
        per_call: float = 0.0,
        per_item: float = 0.0,
        per_char: float = 0.0,
        chunk_chars: int = 40,
        design: bool = False,
        gate: threading.Event | None = None,
    ) -> None:
        super().__init__(design=design)
        self.per_call = per_call
        self.per_item = per_item
        self.per_char = per_char
        self.chunk_chars = chunk_chars
        self.gate = gate
        self.entered = threading.Event()
        self.calls: list[list[str]] = []
        self._lock = threading.Lock()

    def split(self, job: CloneJob | DesignJob) -> Sequence[str]:
        return split_text(job.text, self.chunk_chars)

    def _work(self, texts: list[str]) -> None:
        with self._lock:
            self.calls.append(texts)
        self.entered.set()
        if self.gate is not None:
            self.gate.wait(timeout=60)
        longest = max((len(text) for text in texts), default=0)
        time.sleep(self.per_call + self.per_item * len(texts) + self.per_char * longest)
        if any(POISON in text for text in texts):
            raise RuntimeError("the engine crashed on one item of the batch")

    def clone(self, jobs: Sequence[CloneJob]) -> list[EngineResult | TTSRouterError]:
        self._work([job.text for job in jobs])
        return super().clone(jobs)

    def design(self, job: DesignJob) -> EngineResult:
        self._work([job.text])
        return super().design(job)

    def generated(self, marker: str) -> int:
        """How many chunks containing ``marker`` the engine generated."""
        with self._lock:
            return sum(marker in text for call in self.calls for text in call)
