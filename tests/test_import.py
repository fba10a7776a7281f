"""`import tts_router` must stay fast and touch no provider, torch or modal."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = {"torch", "modal", "qwen_tts", "echo_tts", "numpy", "pydantic", "tts_router_espeak"}


def _loaded_after(code: str) -> set[str]:
    """The top-level packages a fresh interpreter holds once it has run ``code``."""
    code += "\nimport sys, json\nprint(json.dumps(list(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return {module.split(".")[0] for module in json.loads(out.stdout)}


def test_import_loads_nothing_heavy() -> None:
    assert not _loaded_after("import tts_router") & HEAVY


def test_public_names_resolve_without_loading_providers() -> None:
    code = "import tts_router\n[getattr(tts_router, n) for n in tts_router.__all__]"
    assert not _loaded_after(code) & {"torch", "modal", "tts_router_espeak"}


def test_testing_helpers_need_no_pytest() -> None:
    # `tts-router-qwen smoke` and host apps use them where pytest is not installed.
    code = (
        "from tts_router.testing import FakeProvider, make_reference_wav\n"
        "from tts_router.extras import require_extra"
    )
    assert not _loaded_after(code) & {"pytest", "_pytest"}


def test_building_a_request_imports_no_numpy() -> None:
    # numpy costs ~100 ms at startup; only decoding, encoding and stitching audio need it.
    code = (
        "from tts_router import Router, CloneRequest, VoiceReference, DesignRequest\n"
        "DesignRequest(text='Hello.', instruct='A calm voice.')"
    )
    assert "numpy" not in _loaded_after(code)
