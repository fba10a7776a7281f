"""How hard the service client tries: retry options, timeouts and the circuit breaker.

Frozen option objects (:class:`RetryOptions`, :class:`Timeouts`, :class:`CircuitOptions`) a host
passes to a provider's :class:`~tts_router.remote.ServiceConfig`, and the breaker's state
machine (:class:`CircuitBreaker`) :class:`~tts_router.http.ServiceClient` keeps per endpoint. The
retry layer itself is the client's (see :mod:`tts_router.http`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

__all__ = ["PROBE_RETRY", "CircuitBreaker", "CircuitOptions", "RetryOptions", "Timeouts"]


@dataclass(frozen=True, slots=True)
class RetryOptions:
    """How hard to try one job. ``deadline`` bounds all attempts and waits together.

    ``max_attempts`` counts attempts that failed; back-pressure answers (429, 503 with
    ``Retry-After``) do not count, and are retried until ``deadline``.
    """

    max_attempts: int = 6
    initial_backoff: float = 0.5
    max_backoff: float = 10.0
    max_retry_after: float = 30.0
    deadline: float = 900.0
    max_redirects: int = 40  # Modal: each 303 hop waits up to 150 s for the job


# Health and language probes answer fast or not at all: a doctor run must not wait minutes.
PROBE_RETRY = RetryOptions(max_attempts=2, initial_backoff=0.2, max_backoff=0.5, deadline=20.0)


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Per-attempt timeouts; ``read`` is longer than Modal's 150 s web-endpoint wait."""

    connect: float = 10.0
    read: float = 180.0
    write: float = 60.0
    pool: float = 30.0


@dataclass(frozen=True, slots=True)
class CircuitOptions:
    """Open after ``failures`` jobs in a row failed because the service is unhealthy (each
    after its whole retry budget); half-open after ``reset_after``."""

    failures: int = 3
    reset_after: float = 30.0


class CircuitBreaker:
    """Closed -> open after repeated failed jobs -> half-open (one trial job) after a pause."""

    def __init__(self, options: CircuitOptions) -> None:
        self._options = options
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_in_flight = False
        self.last_cause: str | None = None
        """The last unhealthy failure's message (never secrets): why the circuit is open."""

    @property
    def reset_after(self) -> float:
        """Seconds an open circuit waits before letting one trial through."""
        return self._options.reset_after

    @property
    def state(self) -> Literal["closed", "open", "half_open"]:
        """The state now; an open circuit becomes half-open once ``reset_after`` has passed."""
        if self._opened_at is None:
            return "closed"
        if time.monotonic() - self._opened_at >= self._options.reset_after:
            return "half_open"
        return "open"

    def allow(self) -> bool:
        """Whether a job may start now (in half-open, exactly one trial job at a time)."""
        state = self.state
        if state == "closed":
            return True
        if state == "half_open" and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        """A job got a proper answer (even a refusal): the service is healthy."""
        self._failures = 0
        self._opened_at = None
        self._trial_in_flight = False

    def record_failure(self, cause: str) -> None:
        """A job failed because the service is unhealthy; open (or re-open) over the threshold."""
        self._failures += 1
        self._trial_in_flight = False
        self.last_cause = cause
        if self._opened_at is not None or self._failures >= self._options.failures:
            self._opened_at = time.monotonic()

    def record_neutral(self) -> None:
        """A job ended without telling health apart (back-pressure, a read timeout)."""
        self._trial_in_flight = False
