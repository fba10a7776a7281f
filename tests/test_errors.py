"""The one error table: every code raised anywhere is in it, and a host sees the same code
whether the work ran in-process or behind a service."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pytest
from core_support.tone_service import Service, ToneEngine

from tts_router import DesignRequest
from tts_router.client_options import RetryOptions
from tts_router.errors import (
    ERRORS,
    ProviderError,
    TTSRouterError,
    ValidationError,
    error_for_code,
    spec_for,
)
from tts_router.http import ServiceClient
from tts_router.protocol import DesignBody
from tts_router.provider import Capabilities, Provider, Speech
from tts_router.serving import status_for_error
from tts_router.testing import FakeProvider, fake_capabilities

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [ROOT / "tts_router", *sorted((ROOT / "providers").glob("*/tts_router_*"))]
# Calls whose first positional argument is a code.
_CODE_FIRST = {"ServiceError", "error_for_code"}


def _codes_in_sources() -> dict[str, list[str]]:
    """Every string literal used as an error code in the packages, with where."""
    found: dict[str, list[str]] = {}
    for package in SOURCES:
        for path in package.rglob("*.py"):
            tree = ast.parse(path.read_text(), filename=str(path))
            for node in ast.walk(tree):
                for code in _codes_of(node):
                    where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
                    found.setdefault(code, []).append(where)
    return found


def _codes_of(node: ast.AST) -> list[str]:
    literals: list[ast.expr] = []
    if isinstance(node, ast.Call):
        literals += [kw.value for kw in node.keywords if kw.arg == "code"]
        name = getattr(node.func, "id", getattr(node.func, "attr", ""))
        if name in _CODE_FIRST and node.args:
            literals.append(node.args[0])
    elif isinstance(node, ast.ClassDef):  # ``code = "..."`` on an error class
        for item in node.body:
            if isinstance(item, ast.Assign) and [getattr(t, "id", "") for t in item.targets] == [
                "code"
            ]:
                literals.append(item.value)
    return [v.value for v in literals if isinstance(v, ast.Constant) and isinstance(v.value, str)]


def test_every_code_raised_anywhere_is_in_the_table() -> None:
    found = _codes_in_sources()
    assert len(found) > 40  # the scan reads the packages, not nothing
    missing = {code: where for code, where in found.items() if code not in ERRORS}
    missing.pop("tts_router_error", None)  # the base class: a third party's unknown code
    assert not missing, f"codes missing from tts_router.errors.ERRORS: {missing}"


def test_every_audio_code_has_its_output_twin() -> None:
    # Output audio is checked by the same validator; its codes are derived as output_<name>.
    for code in ERRORS:
        if code.startswith("audio_"):
            assert "output_" + code.removeprefix("audio_") in ERRORS


def test_the_table_is_consistent() -> None:
    for code, spec in ERRORS.items():
        assert spec.code == code and issubclass(spec.error, TTSRouterError)
        assert 400 <= spec.status < 600 and spec.meaning
        if issubclass(spec.error, ValidationError):
            # The caller's mistake: no other provider, and no later retry, can fix it.
            assert not spec.retryable and not spec.fallback and spec.status < 500
        rebuilt = error_for_code(code, "m")
        composite = ("all_providers_failed", "stream_interrupted")  # built from other errors
        expected = ProviderError if code in composite else spec.error
        assert rebuilt.code == code and isinstance(rebuilt, expected)
    assert spec_for("a_third_party_code", ProviderError).code == "provider_error"


def test_errors_read_their_row() -> None:
    error = ProviderError("x", code="overloaded")
    assert (error.retryable, error.fallback, error.http_status) == (True, True, 503)
    assert status_for_error(ProviderError("x", code="internal_error")) == 500
    assert ProviderError("x", code="internal_error").http_status == 502


# -- the same code in-process and through a service ----------------------------------------------


class _NanDesigner(Provider):
    """An in-process provider whose engine returns NaN, as the tone engine does with nan=True."""

    id: ClassVar[str] = "nan"

    @property
    def capabilities(self) -> Capabilities:
        return fake_capabilities(operations=("design",), clone_modes=())

    def _design(self, text: str, language: str, request: DesignRequest) -> Speech:
        samples = np.full(1600, np.nan, dtype=np.float32)
        return Speech(model="nan", mode="design", samples=samples, sample_rate=16_000)


@pytest.mark.parametrize(
    ("instruct", "text", "expected"),
    [
        ("   ", "Hello there.", "empty_instruct"),
        ("calm", "\u200b\u200b", "empty_text"),
        ("calm", "\x01\x02 ...", "empty_text"),
        ("calm", "Hallo.", "unsupported_language"),
    ],
)
async def test_a_host_sees_the_same_code_locally_and_through_a_service(
    make_service: Any, instruct: str, text: str, expected: str
) -> None:
    language = "ja" if expected == "unsupported_language" else "en"
    with pytest.raises(TTSRouterError) as local:
        await FakeProvider().design(DesignRequest(text=text, instruct=instruct, language=language))

    service: Service = make_service(ToneEngine(design=True))
    client = ServiceClient(service.url, provider="tone", retry=RetryOptions(max_attempts=1))
    with pytest.raises(TTSRouterError) as remote:
        await client.design(DesignBody(text=text, instruct=instruct, language=language))
    await client.aclose()
    assert local.value.code == remote.value.code == expected
    assert type(local.value) is type(remote.value)
    assert (local.value.retryable, local.value.fallback) == (False, False)


async def test_bad_engine_output_has_one_code_in_process_and_remote(make_service: Any) -> None:
    engine = ToneEngine(design=True)
    engine.nan = True
    service: Service = make_service(engine)
    client = ServiceClient(service.url, provider="tone", retry=RetryOptions(max_attempts=1))
    with pytest.raises(ProviderError) as remote:
        await client.design(DesignBody(text="Hi.", instruct="calm", language="en"))
    await client.aclose()
    with pytest.raises(ProviderError) as local:
        await _NanDesigner().design(DesignRequest(text="Hi.", instruct="calm", language="en"))
    assert remote.value.code == local.value.code == "output_not_finite"
    assert type(remote.value) is type(local.value)


def test_the_readme_documents_every_code_with_its_status() -> None:
    readme = (ROOT / "README.md").read_text()
    for code, spec in ERRORS.items():
        row = f"| `{code}` | `{spec.error.__name__}` | {spec.status} |"
        assert row in readme, f"README's error table lacks (or misstates) {code}"
