"""Named instances: ``[providers.<name>] type = "qwen"``, each its own provider id, against the
real Qwen service (tiny models) on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tts_router import DesignRequest, Router, Settings
from tts_router.cli import main

pytestmark = pytest.mark.usefixtures("no_network")


@pytest.fixture(scope="module")
def qwen_url(served: tuple[Any, str]) -> str:
    return served[1]


def _config(tmp_path: Path, text: str) -> dict[str, str]:
    path = tmp_path / "tts-router.toml"
    path.write_text(text)
    return {"TTS_ROUTER_CONFIG": str(path), "TTS_ROUTER_PLUGINS": "qwen"}


async def test_two_instances_of_one_type_are_routed_to_by_name(
    qwen_url: str, tmp_path: Path
) -> None:
    env = _config(
        tmp_path,
        f"""
[providers.qwen-fast]
type = "qwen"
url = "{qwen_url}"
design_url = "{qwen_url}"
timeout = 120

[providers.qwen-hq]
type = "QWEN"
url = "{qwen_url}"
design_url = "{qwen_url}"

[[rules]]
operation = "design"
provider = "qwen-hq"
""",
    )
    # The environment configures the default instance only, never the named ones.
    router = Router(settings=Settings.load({**env, "QWEN_MODAL_URL": "http://127.0.0.1:9"}))
    assert {"qwen", "qwen-fast", "qwen-hq"} <= set(router.providers)
    assert router.providers["qwen-fast"].timeout == 120
    request = DesignRequest(text="Hello there.", instruct="calm", language="en")
    assert router.explain("design", "en").provider == "qwen-hq"  # the rule names an instance
    fast = await router.design(request.model_copy(update={"provider": "qwen-fast"}))
    assert fast.provider == "qwen-fast" and fast.audio
    chosen = await router.design(request)
    assert chosen.provider == "qwen-hq"
    await router.aclose()


def test_doctor_knows_instances_and_their_keys(
    qwen_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env = _config(
        tmp_path,
        f"""
[providers.qwen-fast]
type = "qwen"
urll = "{qwen_url}"

[providers.ghost]
type = "nothing-installed"
""",
    )
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["doctor"]) == 1
    out = capsys.readouterr().out
    assert "[providers.qwen-fast]" in out and "unknown key 'urll'" in out and "'url'" in out
    assert "ghost is broken" in out and "'nothing-installed' names no installed provider" in out
    assert "configures 'qwen-fast', which is not an installed provider" not in out
