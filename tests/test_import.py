"""`import tts_router` must stay fast and touch no provider, torch or modal."""

from __future__ import annotations

import json
import subprocess
import sys

HEAVY = ("torch", "modal", "qwen_tts", "echo_tts", "numpy", "pydantic", "tts_router_espeak")


def _fresh(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout


def test_import_loads_nothing_heavy() -> None:
    loaded = json.loads(
        _fresh("import sys, json, tts_router; print(json.dumps(list(sys.modules)))")
    )
    assert not [m for m in loaded if m.split(".")[0] in HEAVY]


def test_public_names_resolve_without_loading_providers() -> None:
    code = (
        "import sys, json, tts_router\n"
        "[getattr(tts_router, n) for n in tts_router.__all__]\n"
        "print(json.dumps(list(sys.modules)))"
    )
    loaded = json.loads(_fresh(code))
    assert not [m for m in loaded if m.split(".")[0] in ("torch", "modal", "tts_router_espeak")]


def test_testing_helpers_need_no_pytest() -> None:
    # `tts-router-qwen smoke` and host apps use them where pytest is not installed.
    code = (
        "import sys, json\n"
        "from tts_router.testing import FakeProvider, make_reference_wav\n"
        "from tts_router.extras import require_extra\n"
        "print(json.dumps(list(sys.modules)))"
    )
    loaded = json.loads(_fresh(code))
    assert not [m for m in loaded if m.split(".")[0] in ("pytest", "_pytest")]


def test_building_a_request_imports_no_numpy() -> None:
    # numpy costs ~100 ms at startup; only decoding, encoding and stitching audio need it.
    code = (
        "import sys, json\n"
        "from tts_router import Router, CloneRequest, VoiceReference, DesignRequest\n"
        "DesignRequest(text='Hello.', instruct='A calm voice.')\n"
        "print(json.dumps(list(sys.modules)))"
    )
    loaded = json.loads(_fresh(code))
    assert "numpy" not in loaded
