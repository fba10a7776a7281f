"""Shared fixtures for the Echo-TTS tests: the tiny model, a reference, and a network guard.

Everything here runs offline: ``HF_HUB_OFFLINE=1`` is set before anything imports
huggingface_hub, and the guard fails a test on any connection except to 127.0.0.1.
"""

from __future__ import annotations

import os

# Before any import of huggingface_hub (it reads the flag once, at import).
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from echo_support import NetworkUsed, make_engine
from tts_router_echo.engine import EchoEngine
from tts_router_echo.fixtures import build_tiny_echo

from tts_router.audio import DecodedAudio, decode_audio
from tts_router.testing import make_reference_wav


def _host(address: Any) -> str | None:
    return address[0] if isinstance(address, tuple) else None


def _guarded_connect(original: Callable[..., Any]) -> Callable[..., Any]:
    def connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and _host(address) != "127.0.0.1":
            raise NetworkUsed(f"connection to {_host(address)!r} attempted")
        return original(self, address)

    return connect


def _guarded_getaddrinfo(original: Callable[..., Any]) -> Callable[..., Any]:
    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", b"127.0.0.1"):
            raise NetworkUsed(f"name lookup of {host!r} attempted")
        return original(host, *args, **kwargs)

    return getaddrinfo


@pytest.fixture(scope="session", autouse=True)
def local_network_only() -> Iterator[None]:
    """Any connection or lookup other than 127.0.0.1 fails the test that made it."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setattr(socket.socket, "connect", _guarded_connect(socket.socket.connect))
        mp.setattr(socket.socket, "connect_ex", _guarded_connect(socket.socket.connect_ex))
        mp.setattr(socket, "getaddrinfo", _guarded_getaddrinfo(socket.getaddrinfo))
        yield


@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Run torch on one thread: on a small shared machine, intra-op threads fighting other
    processes made a 640-latent pass 20x slower (34 s instead of 1.7 s, measured)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny random Echo-TTS model directory (built once per session)."""
    return build_tiny_echo(tmp_path_factory.mktemp("echo-tiny"), seed=0)


@pytest.fixture(scope="session")
def reference_wav() -> bytes:
    """A 1.5 s voice-like clip at 44.1 kHz (Echo's rate: no resampling on the common path)."""
    return make_reference_wav(seconds=1.5, sample_rate=44_100, seed=1)


@pytest.fixture(scope="session")
def reference(reference_wav: bytes) -> DecodedAudio:
    """The reference clip through the core validator, as the service hands it to the engine."""
    return decode_audio(reference_wav)


@pytest.fixture(scope="module")
def engine(tiny_dir: Path) -> EchoEngine:
    """A loaded engine over the tiny model (one per test module)."""
    loaded = make_engine(tiny_dir)
    loaded.load()
    return loaded
