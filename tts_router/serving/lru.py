"""A least-recently-used map bounded both in entries and in total size."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["BoundedLRU"]

K = TypeVar("K")
V = TypeVar("V")


class BoundedLRU(Generic[K, V]):
    """A least-recently-used map bounded in entries and in total size (``sizeof`` units).

    Not thread-safe: each owner uses it from one thread (the event loop, or the engine worker).
    An item larger than ``max_size`` on its own is not stored at all.
    """

    def __init__(
        self, max_entries: int, max_size: int, sizeof: Callable[[V], int] = lambda _: 0
    ) -> None:
        if max_entries < 1:
            raise ValueError("max_entries must be at least 1")
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._max_entries = max_entries
        self._max_size = max_size
        self._sizeof = sizeof
        self._size = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: K) -> V | None:
        """The value for ``key`` (marking it recently used), or None."""
        item = self._items.get(key)
        if item is None:
            self.misses += 1
            return None
        self.hits += 1
        self._items.move_to_end(key)
        return item[0]

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    @property
    def size(self) -> int:
        """Total size of the stored values."""
        return self._size

    def put(self, key: K, value: V) -> None:
        """Store ``value``, evicting the least recently used items to stay within bounds."""
        size = self._sizeof(value)
        self.pop(key)
        if size > self._max_size:
            return
        self._items[key] = (value, size)
        self._size += size
        while len(self._items) > self._max_entries or self._size > self._max_size:
            _, (_, evicted) = self._items.popitem(last=False)
            self._size -= evicted

    def pop(self, key: K) -> V | None:
        """Remove and return ``key``'s value, if any."""
        item = self._items.pop(key, None)
        if item is None:
            return None
        self._size -= item[1]
        return item[0]
