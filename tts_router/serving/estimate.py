"""How long the queue will take: engine call times measured as the service runs."""

from __future__ import annotations

__all__ = ["CallTimes"]


class CallTimes:
    """Seconds per engine call, by batch size (an exponentially weighted mean per size).

    A size never measured is predicted from the nearest measured size above it (a batch is
    never faster than a larger one), else scaled linearly from the largest below (pessimistic:
    batching is sublinear). Before any measurement there is no prediction: the service admits
    what it cannot yet judge.
    """

    def __init__(self, weight: float = 0.3) -> None:
        self._weight = weight
        self._by_size: dict[int, float] = {}

    def record(self, size: int, seconds: float) -> None:
        """One engine call of ``size`` items took ``seconds``."""
        old = self._by_size.get(size)
        self._by_size[size] = seconds if old is None else old + self._weight * (seconds - old)

    def largest(self) -> int | None:
        """The largest call size measured, or None before any."""
        return max(self._by_size, default=None)

    def measured(self, size: int) -> float | None:
        """Seconds a call of exactly ``size`` items took (weighted), or None if none ran."""
        return self._by_size.get(size)

    def predict(self, size: int) -> float | None:
        """Seconds a call of ``size`` items should take, or None before any measurement."""
        if size <= 0:
            return 0.0
        if not self._by_size:
            return None
        if size in self._by_size:
            return self._by_size[size]
        above = [measured for measured in self._by_size if measured > size]
        if above:
            return self._by_size[min(above)]
        largest = max(self._by_size)
        return self._by_size[largest] * size / largest

    def finish_in(self, items: int, max_batch: int, running_left: float = 0.0) -> float | None:
        """Seconds until ``items`` more items are done, ``max_batch`` per call, after the call
        now running (``running_left`` seconds more); None before any measurement."""
        full, rest = divmod(items, max(max_batch, 1))
        per_full = self.predict(max_batch) if full else 0.0
        per_rest = self.predict(rest)
        if per_full is None or per_rest is None:
            return None
        return running_left + full * per_full + per_rest
