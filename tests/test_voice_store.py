"""Voices that survive: the directory store on its own, two service processes sharing one
directory behind a round-robin balancer, and a restart between upload and clone."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from core_support.balancer import Balancer
from core_support.latency_service import engine_log, free_port, spawn
from core_support.tone_service import RATE, reference_wav, sha

from tts_router.audio import decode_audio
from tts_router.client_options import RetryOptions
from tts_router.http import ServiceClient
from tts_router.protocol import CloneBody
from tts_router.serving import DirectoryVoiceStore, MemoryVoiceStore

REF = reference_wav()
VOICE = sha(REF)
OTHER = reference_wav(seed=1)


async def test_the_directory_store_keeps_voices_across_instances(tmp_path: Path) -> None:
    writes: list[str] = []
    store = DirectoryVoiceStore(tmp_path, after_write=lambda: writes.append("commit"))
    assert not await store.contains(VOICE) and await store.get(VOICE) is None
    await store.put(VOICE, REF, decode_audio(REF))
    await store.put(VOICE, REF, decode_audio(REF))  # the same bytes: not written again
    assert writes == ["commit"] and store.path(VOICE).read_bytes() == REF

    restarted = DirectoryVoiceStore(tmp_path)  # a new process: an empty memory cache
    assert await restarted.contains(VOICE)
    audio = await restarted.get(VOICE)
    assert audio is not None and audio.sample_rate == RATE and len(restarted.cache) == 1


async def test_a_corrupt_voice_file_is_dropped_not_served(tmp_path: Path) -> None:
    store = DirectoryVoiceStore(tmp_path)
    await store.put(VOICE, REF, decode_audio(REF))
    store.path(VOICE).write_bytes(REF[:-10] + b"0123456789")  # bytes no longer match the id
    assert await DirectoryVoiceStore(tmp_path).get(VOICE) is None
    assert not store.path(VOICE).exists()


async def test_a_miss_reloads_once_before_giving_up(tmp_path: Path) -> None:
    # On Modal the hook reloads the Volume: another container's upload appears.
    other_container = DirectoryVoiceStore(tmp_path / "elsewhere")
    await other_container.put(VOICE, REF, decode_audio(REF))
    reloads: list[str] = []

    def reload() -> None:
        reloads.append("reload")
        target = tmp_path / "here" / VOICE[:2]
        target.mkdir(parents=True, exist_ok=True)
        (target / VOICE).write_bytes(other_container.path(VOICE).read_bytes())

    store = DirectoryVoiceStore(tmp_path / "here", before_miss=reload)
    assert await store.get(VOICE) is not None and reloads == ["reload"]
    assert await store.get(VOICE) is not None and reloads == ["reload"]  # cached now
    assert await store.get(sha(OTHER)) is None and reloads == ["reload", "reload"]


async def test_the_directory_is_bounded_oldest_first(tmp_path: Path) -> None:
    store = DirectoryVoiceStore(tmp_path, max_bytes=int(len(REF) * 1.5))
    await store.put(VOICE, REF, decode_audio(REF))
    os.utime(store.path(VOICE), (1, 1))  # long unused
    await store.put(sha(OTHER), OTHER, decode_audio(OTHER))
    assert not store.path(VOICE).exists() and store.path(sha(OTHER)).exists()


async def test_the_memory_store_is_bounded() -> None:
    audio = decode_audio(REF)
    store = MemoryVoiceStore(max_voices=10, max_bytes=int(audio.samples.nbytes * 1.5))
    await store.put(VOICE, REF, audio)
    await store.put(sha(OTHER), OTHER, decode_audio(OTHER))
    assert not await store.contains(VOICE) and await store.contains(sha(OTHER))


def _body(text: str) -> CloneBody:
    return CloneBody(text=text, language="en", voice_id=VOICE)


async def test_two_processes_share_voices_behind_a_round_robin_balancer(tmp_path: Path) -> None:
    flags = ("--voices-dir", str(tmp_path))
    with spawn(None, *flags) as (url_a, _), spawn(None, *flags) as (url_b, _):
        ports = [int(url.rsplit(":", 1)[1]) for url in (url_a, url_b)]
        with Balancer(ports, mode="round_robin") as balancer:
            first = ServiceClient(balancer.url, provider="tone", retry=RetryOptions())
            await first.clone(_body("Uploaded here."), reference=REF)
            await first.aclose()
            clones = []
            for i in range(4):  # fresh clients (containers that never saw the upload)
                client = ServiceClient(balancer.url, provider="tone", retry=RetryOptions())
                clones.append(await client.clone(_body(f"Cloned there {i}."), reference=REF))
                await client.aclose()
            puts = [port for method, _, port in balancer.seen if method == "PUT"]
            heads = {port for method, _, port in balancer.seen if method == "HEAD"}
            posts = {port for method, _, port in balancer.seen if method == "POST"}
        calls = sum(len(engine_log(url)["calls"]) for url in (url_a, url_b))
    assert all(result.wav for result in clones) and calls == 5
    assert len(puts) == 1  # uploaded once, found by both processes from then on
    assert heads == set(ports)  # both answered "I have it" (HEAD 200: no second upload)
    assert posts - set(puts)  # cloned by the process that did not receive the upload


@pytest.mark.parametrize("shared_dir", [True, False])
async def test_a_restart_between_upload_and_clone(tmp_path: Path, shared_dir: bool) -> None:
    port = free_port()
    flags: tuple[str, ...] = ("--voices-dir", str(tmp_path)) if shared_dir else ()
    with Balancer([port]) as balancer:
        client = ServiceClient(balancer.url, provider="tone", retry=RetryOptions())
        with spawn(port, *flags):
            await client.clone(_body("Before the restart."), reference=REF)
        with spawn(port, *flags) as (url, _):
            try:
                result = await client.clone(_body("After the restart."), reference=REF)
            except Exception as exc:
                raise AssertionError(f"{balancer.seen}") from exc
            log: dict[str, Any] = engine_log(url)
        await client.aclose()
    assert result.wav and len(log["calls"]) == 1
    # With the directory the voice survived; in memory it was lost, and the client uploaded
    # it again by itself (voice_not_found), once.
    assert balancer.count("PUT", "/voices/") == (1 if shared_dir else 2)
    assert balancer.count("POST", "/clone") == (2 if shared_dir else 3)
    await asyncio.sleep(0)


class _Volume:
    """Stands in for a ``modal.Volume`` (Modal's cloud is the one edge replaced): it records
    the commits and reloads the store asks for."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def commit(self) -> None:
        self.calls.append("commit")

    def reload(self) -> None:
        self.calls.append("reload")


async def test_on_modal_voices_go_to_the_volume(make_service: Any, tmp_path: Path) -> None:
    from tts_router.modal_kit import attach_volume_voices, volume_voices_from_env

    service = make_service()
    assert volume_voices_from_env(service.app) is None  # not in a Modal container: untouched
    volume = _Volume()
    store = attach_volume_voices(service.app, str(tmp_path / "voices"), volume)
    assert service.client.put(f"/voices/{VOICE}", content=REF).status_code == 200
    assert store.path(VOICE).read_bytes() == REF and volume.calls == ["commit"]
    missing = service.client.post("/clone", json={"text": "Hi.", "voice_id": sha(OTHER)})
    assert missing.status_code == 404 and volume.calls == ["commit", "reload"]
    cloned = service.client.post("/clone", json={"text": "Hi.", "voice_id": VOICE})
    assert cloned.status_code == 200 and volume.calls == ["commit", "reload"]  # from memory
