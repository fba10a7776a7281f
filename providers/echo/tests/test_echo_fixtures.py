"""The tiny random Echo-TTS model: layout, determinism, and a cheap import."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from tts_router_echo.architecture import (
    AE_REPO,
    ARCHITECTURE_FILE,
    MODEL_REPO,
    Architecture,
    weight_paths,
)
from tts_router_echo.fixtures import TINY_ARCHITECTURE, build_tiny_echo


def _digests(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_layout_matches_the_real_weights(tiny_dir: Path) -> None:
    for path in weight_paths(tiny_dir).values():
        assert path.is_file()
    assert (tiny_dir / ARCHITECTURE_FILE).is_file()
    assert {p.parent.relative_to(tiny_dir).as_posix() for p in tiny_dir.rglob("*.safetensors")} == {
        MODEL_REPO,
        AE_REPO,
    }


def test_same_seed_same_bytes_and_rng_untouched(tmp_path: Path, tiny_dir: Path) -> None:
    import torch

    torch.manual_seed(1234)
    before = torch.rand(3)
    torch.manual_seed(1234)
    again = build_tiny_echo(tmp_path / "again", seed=0)
    assert torch.equal(torch.rand(3), before)  # the caller's RNG stream is unchanged
    assert _digests(again) == _digests(tiny_dir)
    other = build_tiny_echo(tmp_path / "other", seed=1)
    assert _digests(other) != _digests(tiny_dir)


def test_architecture_round_trips(tiny_dir: Path) -> None:
    assert Architecture.load(tiny_dir) == TINY_ARCHITECTURE
    assert Architecture.load(tiny_dir / "nowhere") is None


def test_autoencoder_file_holds_its_persistent_buffers(tiny_dir: Path) -> None:
    import safetensors.torch as st

    names = set(st.load_file(str(weight_paths(tiny_dir)["autoencoder"])))
    assert any(name.endswith("causal_mask") for name in names)
    assert any(name.endswith("freqs_cis") for name in names)


def test_fixture_is_tiny(tiny_dir: Path) -> None:
    total = sum(p.stat().st_size for p in tiny_dir.rglob("*") if p.is_file())
    assert total < 20 * 1024 * 1024


@pytest.mark.parametrize(
    "module",
    [
        "tts_router_echo",
        "tts_router_echo.fixtures",
        "tts_router_echo.engine",
        "tts_router_echo.service",
        "tts_router_echo.cli",
        "tts_router_echo.plugin",
    ],
)
def test_importing_loads_no_torch(module: str) -> None:
    code = (
        f"import sys, {module}; "
        "heavy = [m for m in ('torch', 'echo_tts', 'fastapi') if m in sys.modules]; "
        "print(heavy); sys.exit(1 if heavy else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
