"""tts_router.modal_kit, the container side: the start-up order of the service shell, and
weights copied out of memory-mapped files before a memory snapshot.

The web endpoint's lifespan is driven by Modal's own ``LifespanManager`` (what the container
runs before it takes inputs); the engine is a tone engine whose load waits on a gate.
"""

from __future__ import annotations

import asyncio
import base64
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from core_support.tone_service import ToneEngine

from tts_router import modal_kit as kit
from tts_router.modal_kit.shell import ServiceShell
from tts_router.modal_kit.snapshot import file_mappings, mapped_files
from tts_router.serving import create_app
from tts_router.testing import make_reference_wav

REFERENCE = base64.b64encode(make_reference_wav(seconds=1.0, sample_rate=16_000)).decode()
CLONE = {"text": "Hello there.", "language": "en", "audio_base64": REFERENCE}


def shell_over(engine: Any, *, ready_timeout_s: float = 30.0) -> ServiceShell:
    shell = ServiceShell()
    shell.open(create_app(engine), "tone", ready_timeout_s=ready_timeout_s)
    return shell


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://modal")


def test_start_up_waits_for_the_model_and_so_does_an_early_request() -> None:
    """Modal's lifespan start-up returns only once the model is loaded; a request sent while
    it loads waits for it and is served, never answered 503 or 500."""
    from modal._runtime.asgi import LifespanManager

    gate = threading.Event()
    engine = ToneEngine(load_gate=gate)
    shell = shell_over(engine)

    async def scenario() -> tuple[bool, bool, httpx.Response, str]:
        manager = LifespanManager(shell.asgi(), {})
        background = asyncio.create_task(manager.background_task())
        startup = asyncio.create_task(manager.lifespan_startup())
        async with client(shell.asgi()) as http:
            early = asyncio.create_task(http.post("/clone", json=CLONE))
            await asyncio.sleep(0.3)
            waiting = not startup.done() and not early.done()
            gate.set()
            await asyncio.wait_for(startup, 10)
            response = await asyncio.wait_for(early, 10)
            health = (await http.get("/health")).json()["status"]
        await manager.lifespan_shutdown()
        background.cancel()
        return waiting, shell._running is None, response, health

    waiting, stopped, response, health = asyncio.run(scenario())
    assert waiting  # neither start-up nor the request went ahead of the model
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "audio/wav"
    assert health == "ok" and stopped  # Modal's lifespan shutdown stopped the service


def test_a_load_slower_than_the_wait_gets_retry_after_never_500() -> None:
    gate = threading.Event()
    shell = shell_over(ToneEngine(load_gate=gate), ready_timeout_s=0.2)

    async def scenario() -> tuple[httpx.Response, httpx.Response]:
        async with client(shell.asgi()) as http:  # no lifespan: the first request starts it
            during = await http.post("/clone", json=CLONE)
            gate.set()
            for _ in range(100):  # the worker finishes its load in its own time
                if (await http.get("/health")).json()["status"] == "ok":
                    break
                await asyncio.sleep(0.05)
            after = await http.post("/clone", json=CLONE)
        await shell.stop_service()
        return during, after

    during, after = asyncio.run(scenario())
    assert during.status_code == 503 and during.json()["error"]["code"] == "loading"
    assert int(during.headers["retry-after"]) >= 1
    assert after.status_code == 200


def test_a_failed_load_is_a_typed_503_not_a_crash(caplog: pytest.LogCaptureFixture) -> None:
    class Broken(ToneEngine):
        def load(self) -> None:
            raise FileNotFoundError("no weights in the Volume")

    shell = shell_over(Broken())
    shell.start_engine()  # @modal.enter(snap=False): logged, not raised (no restart loop)
    assert "failed to load" in caplog.text

    async def scenario() -> tuple[httpx.Response, str]:
        async with client(shell.asgi()) as http:
            response = await http.post("/clone", json=CLONE)
            health = (await http.get("/health")).json()["status"]
        await shell.stop_service()
        return response, health

    response, health = asyncio.run(scenario())
    assert response.status_code == 503 and response.json()["error"]["code"] == "load_failed"
    assert health == "failed"


def test_concurrent_callers_share_one_start() -> None:
    engine = ToneEngine()
    shell = shell_over(engine)
    starts: list[int] = []
    original = shell._start

    async def counted() -> None:
        starts.append(1)
        await original()

    shell._start = counted  # type: ignore[method-assign]

    async def scenario() -> None:
        await asyncio.gather(*(shell.ensure_started() for _ in range(5)))
        await shell.ensure_started()
        await shell.stop_service()
        await shell.stop_service()  # idempotent

    asyncio.run(scenario())
    assert starts == [1] and engine.loaded


def test_the_asgi_app_needs_an_opened_shell() -> None:
    with pytest.raises(RuntimeError, match="open"):
        ServiceShell().asgi()


# --------------------------------------------------------------------------- mapped weights

MAPS = """\
00400000-00452000 r-xp 00000000 08:02 173521      /usr/bin/python3.12
7f0000000000-7f0000100000 r--s 00000000 08:02 42  /models/hf/blobs/abc
7f0000200000-7f0000300000 rw-p 00000000 00:00 0
7f0000300000-7f0000400000 r--p 00000000 08:02 43  /vol/speech_tokenizer/model.safetensors (deleted)
7f0000400000-7f0000500000 r-xp 00000000 08:02 44  /usr/lib/libtorch_cpu.so
7f0000500000-7f0000600000 r--p 00000000 08:02 45  /usr/lib/libc.so.6
7fff00000000-7fff00021000 rw-p 00000000 00:00 0   [stack]
"""


def test_maps_parsing_keeps_data_files_only() -> None:
    regions = file_mappings(MAPS)
    assert regions is not None
    assert [path for _, _, path in regions] == [
        "/usr/bin/python3.12",
        "/models/hf/blobs/abc",
        "/vol/speech_tokenizer/model.safetensors",
    ]
    assert regions[1][:2] == (0x7F0000000000, 0x7F0000100000)
    assert mapped_files("/vol", MAPS) == {"/vol/speech_tokenizer/model.safetensors"}


def test_weights_are_copied_out_of_the_safetensors_file(tmp_path: Path) -> None:
    torch = pytest.importorskip("torch")
    safetensors = pytest.importorskip("safetensors.torch")

    class Net(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.embedding = torch.nn.Embedding(64, 16)
            self.head = torch.nn.Linear(16, 64, bias=False)
            self.register_buffer("table", torch.arange(32.0))

    source = Net()
    weights = tmp_path / "model.safetensors"
    safetensors.save_file({k: v.contiguous() for k, v in source.state_dict().items()}, weights)
    net = Net()
    state = safetensors.load_file(weights)  # CPU tensors viewing the mapped file
    net.load_state_dict(state, assign=True)
    net.head.weight = net.embedding.weight  # tied, as language models tie their heads
    net.register_buffer("first_half", state["table"][:16])  # a view: keeps its base alive
    del state
    assert mapped_files(tmp_path) == {str(weights.resolve())}

    copied = kit.release_mapped_weights([net, "not a module", None])

    assert mapped_files(tmp_path) == set()  # nothing of the file is held any more
    assert copied == (64 * 16 + 32) * 4  # the embedding and the table (the old head: dropped)
    assert net.head.weight is net.embedding.weight  # still tied
    assert torch.equal(net.embedding.weight, source.embedding.weight)
    assert torch.equal(net.first_half, torch.arange(16.0)) and net.first_half._base is None
    shared = net.first_half.untyped_storage().data_ptr()
    assert shared == net.table.untyped_storage().data_ptr()  # one copy, still shared
    assert kit.release_mapped_weights([net]) == 0  # nothing left to copy
