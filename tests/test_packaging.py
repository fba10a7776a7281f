"""Installable like a real library: every distribution's wheel, installed into fresh virtual
environments as a user would install it, outside the workspace.

Wheels are built with ``uv build``; each environment gets only the wheels it needs (by path,
so nothing of ours can come from an index) and the third-party packages from the uv cache or
PyPI. Python itself is never downloaded (``UV_PYTHON_DOWNLOADS=never``).

1. ``tts-router-core`` alone: ``import tts_router``, ``tts-router providers``, the fake
   provider and the reference-WAV helper without pytest.
2. ``tts-router-qwen-modal`` without extras: no torch, the engine command names its extra, and
   ``tts-router clone`` / ``tts-router-qwen smoke`` work against a tiny Qwen service served
   from the development environment on 127.0.0.1.
3. ``tts-router-espeak``: ``tts-router design`` writes speech.
4. A plugin made from ``examples/plugin-template``: passes the contract suite in its own
   environment and is routed to.

Each environment's installed size is printed; the client-only Qwen install must stay small.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import numpy as np
import pytest

from tts_router import decode_audio
from tts_router.audio import OUTPUT_LIMITS
from tts_router.testing import make_reference_wav

pytestmark = pytest.mark.packaging

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "examples" / "plugin-template"
MB = 1_000_000
# numpy (~58 MB installed: the package and its bundled OpenBLAS) is most of any install, and the
# core needs it; the Qwen client must add next to nothing to the core (pydantic, httpx...).
CLIENT_ONLY_QWEN_LIMIT = 80 * MB
QWEN_CLIENT_OVER_CORE_LIMIT = 1 * MB
HEAVY = ("torch", "torchaudio", "qwen_tts", "echo_tts", "transformers", "modal", "fastapi")

# Run by the development environment's Python: the tiny Qwen model behind the real service.
QWEN_SERVER = """
import sys, time
from pathlib import Path
from tts_router.serving import serve_in_thread
from tts_router_qwen_modal.fixtures import build_tiny_model
from tts_router_qwen_modal.service import create_service_app

root = Path(sys.argv[1])
base = build_tiny_model(root / "base", early_eos=True)
design = build_tiny_model(root / "design", variant="voice_design", early_eos=True)
options = {"device": "cpu", "max_new_tokens": 64, "min_seconds_per_char": 0.005}
with serve_in_thread(create_service_app(base, design, engine_options=options)) as url:
    print(url, flush=True)
    while True:
        time.sleep(3600)
"""


def _uv() -> list[str]:
    """The uv running this session (``uv run`` exports ``UV``), else one on PATH, else the
    copy in this Python's user site that ``make bootstrap`` installs."""
    found = os.environ.get("UV") or shutil.which("uv")
    if found:
        return [found]
    python = shutil.which("python3") or sys.executable
    probe = subprocess.run([python, "-m", "uv", "--version"], check=False, capture_output=True)
    if probe.returncode:
        pytest.fail("the packaging test needs uv (make bootstrap installs it)")
    return [python, "-m", "uv"]


def _uv_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "TTS_"))}
    env.pop("PYTHONPATH", None)
    env["UV_PYTHON_DOWNLOADS"] = "never"
    return env


def _run(
    argv: list[str | Path], *, check: bool = True, **kwargs: object
) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [str(a) for a in argv],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,  # type: ignore[call-overload]
    )
    if check and out.returncode:
        pytest.fail(f"{' '.join(map(str, argv))} exited {out.returncode}:\n{out.stderr[-3000:]}")
    return out


@dataclass(frozen=True)
class Env:
    """A fresh virtual environment with some of our wheels installed."""

    root: Path

    @property
    def bin(self) -> Path:
        return self.root / ("Scripts" if os.name == "nt" else "bin")

    @property
    def python(self) -> Path:
        return self.bin / "python"

    def run(
        self, *argv: str | Path, check: bool = True, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run one of its commands (``python``, ``tts-router``...) with its own PATH only."""
        base = {k: v for k, v in _uv_env().items() if not k.startswith(("QWEN_", "ECHO_"))}
        base.update(PATH=f"{self.bin}{os.pathsep}{os.environ.get('PATH', '')}", **env)
        return _run([self.bin / str(argv[0]), *argv[1:]], check=check, env=base, cwd=self.root)

    def imports(self, module: str) -> bool:
        return self.run("python", "-c", f"import {module}", check=False).returncode == 0

    def site_packages_bytes(self) -> int:
        code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
        site = Path(self.run("python", "-c", code).stdout.strip())
        return sum(p.stat().st_size for p in site.rglob("*") if p.is_file() and not p.is_symlink())


@pytest.fixture(scope="module")
def qwen_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[subprocess.Popen[str]]:
    """The tiny Qwen service, started first: its imports (~10 s) overlap the wheel builds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TTS_", "QWEN_"))}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", OMP_NUM_THREADS="1")
    root = tmp_path_factory.mktemp("qwen-tiny")
    server = subprocess.Popen(
        [sys.executable, "-c", QWEN_SERVER, str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        yield server
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def wheels(
    qwen_server: subprocess.Popen[str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Path]:
    """Every distribution's wheel, and the plugin template's, built from a copy as a third
    party would build theirs; by distribution name."""
    dist = tmp_path_factory.mktemp("dist")
    _run([*_uv(), "build", "--all-packages", "--wheel", "--out-dir", dist], cwd=ROOT, env=_uv_env())
    template = tmp_path_factory.mktemp("template") / "plugin"
    shutil.copytree(TEMPLATE, template, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    _run([*_uv(), "build", "--wheel", "--out-dir", dist, template], env=_uv_env())
    found = {w.name.split("-")[0].replace("_", "-"): w for w in dist.glob("*.whl")}
    expected = {
        "tts-router-core",
        "tts-router-espeak",
        "tts-router-qwen-modal",
        "tts-router-echo",
        "tts-router-example-plugin",
    }
    assert set(found) == expected
    return found


MakeEnv = Callable[..., Env]


@pytest.fixture(scope="module")
def make_env(wheels: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> MakeEnv:
    """``make_env(name, *distributions, others=())``: a fresh environment with those wheels
    (the core's always), ``others`` from PyPI, and the third-party packages they need."""

    def make(name: str, *ours: str, others: tuple[str, ...] = ()) -> Env:
        env = Env(tmp_path_factory.mktemp("envs") / name)
        uv, uv_env = _uv(), _uv_env()
        _run([*uv, "venv", "--quiet", "--python", sys.executable, env.root], env=uv_env)
        paths = [wheels[d] for d in ("tts-router-core", *ours)]
        _run(
            [*uv, "pip", "install", "--quiet", "--python", env.python, *paths, *others],
            env=uv_env,
            cwd=env.root,
        )
        return env

    return make


def _report(capsys: pytest.CaptureFixture[str], name: str, env: Env) -> int:
    size = env.site_packages_bytes()
    with capsys.disabled():
        print(f"\n[packaging] {name}: {size / MB:.1f} MB installed (site-packages)")
    return size


def test_every_wheel_carries_licence_types_readme_and_light_requirements(
    wheels: dict[str, Path],
) -> None:
    for name, wheel in wheels.items():
        with zipfile.ZipFile(wheel) as archive:
            files = archive.namelist()
            metadata = next(f for f in files if f.endswith(".dist-info/METADATA"))
            text = archive.read(metadata).decode()
        headers, _, readme = text.partition("\n\n")
        assert "License-Expression: Apache-2.0" in headers, name
        assert any(f.endswith(".dist-info/licenses/LICENSE") for f in files), name
        assert any(f.endswith("/py.typed") for f in files), name
        assert "Classifier: " in headers and len(readme) > 500, name
        required = [
            h.split(": ", 1)[1] for h in headers.splitlines() if h.startswith("Requires-Dist")
        ]
        always = [r.split(";")[0].strip() for r in required if "extra ==" not in r]
        if name in ("tts-router-qwen-modal", "tts-router-echo"):
            assert always == ["tts-router-core<0.2,>=0.1.0"], (name, always)


@pytest.fixture(scope="module")
def core_env(make_env: MakeEnv) -> Env:
    return make_env("core")


def test_the_core_alone_works_without_pytest(
    core_env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    _report(capsys, "tts-router-core", core_env)
    assert not core_env.imports("pytest") and not core_env.imports("torch")
    code = (
        "import json, sys, tts_router\n"
        "from tts_router.testing import FakeProvider, make_reference_wav\n"
        "from tts_router import DesignRequest\n"
        "r = FakeProvider().sync.design(DesignRequest(text='Hi there.', instruct='calm'))\n"
        "print(json.dumps([r.provider, len(make_reference_wav()), 'pytest' in sys.modules]))"
    )
    provider, wav_bytes, pytest_loaded = json.loads(core_env.run("python", "-c", code).stdout)
    assert (provider, pytest_loaded) == ("fake", False) and wav_bytes > 44
    listing = core_env.run("tts-router", "providers")
    assert "no providers installed" in listing.stdout and "Traceback" not in listing.stderr


@pytest.fixture(scope="module")
def qwen_url(qwen_server: subprocess.Popen[str]) -> str:
    assert qwen_server.stdout is not None
    url = ""
    while not url.startswith("http://127.0.0.1:"):  # qwen-tts prints banners to stdout too
        line = qwen_server.stdout.readline()
        assert line, "the tiny Qwen service did not start"
        url = line.strip()
    deadline = time.monotonic() + 120
    with httpx.Client(base_url=url, timeout=5) as client:
        while client.get("/health").json()["status"] != "ok":
            assert time.monotonic() < deadline, "the tiny Qwen models did not load"
            time.sleep(0.2)
    return url


def test_the_qwen_client_alone_is_light_and_clones_through_a_service(
    make_env: MakeEnv,
    core_env: Env,
    qwen_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env: Env = make_env("qwen-client", "tts-router-qwen-modal")
    size = _report(capsys, "tts-router-qwen-modal (no extras)", env)
    assert size < CLIENT_ONLY_QWEN_LIMIT
    assert size - core_env.site_packages_bytes() < QWEN_CLIENT_OVER_CORE_LIMIT
    assert not [m for m in HEAVY if env.imports(m)]

    engine = env.run("tts-router-qwen", "serve", "--model-dir", "x", check=False)
    assert engine.returncode == 2 and engine.stderr.count("\n") == 1
    assert "pip install 'tts-router-qwen-modal[engine]'" in engine.stderr
    local = env.run("tts-router", "providers", check=False, QWEN_BACKEND="local")
    assert "tts-router-qwen-modal[engine]" in local.stdout + local.stderr

    reference = tmp_path / "ref.wav"
    reference.write_bytes(make_reference_wav(seconds=1.5, sample_rate=24_000))
    target = tmp_path / "out.wav"
    env.run(
        "tts-router",
        "clone",
        "--text",
        "Hello there.",
        "--reference",
        reference,
        "--transcript",
        "Hello, this is me.",
        "--language",
        "en",
        "-o",
        target,
        TTS_PROVIDER="qwen",
        QWEN_MODAL_URL=qwen_url,
    )
    assert decode_audio(target.read_bytes(), OUTPUT_LIMITS).sample_rate == 24_000
    smoke = env.run("tts-router-qwen", "smoke", qwen_url, "--text", "Hi there.")
    assert "health: ok" in smoke.stdout


def test_espeak_designs_speech(
    make_env: MakeEnv, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env: Env = make_env("espeak", "tts-router-espeak")
    _report(capsys, "tts-router-espeak", env)
    target = tmp_path / "designed.wav"
    env.run(
        "tts-router",
        "design",
        "--language",
        "en",
        "-o",
        target,
        "--instruct",
        "a warm, low female voice",
        "--text",
        "Hello from a fresh install.",
    )
    speech = decode_audio(target.read_bytes(), OUTPUT_LIMITS)
    assert speech.duration > 0.8 and float(np.max(np.abs(speech.samples))) > 0.05


def test_a_plugin_from_the_template_passes_the_contract_and_is_routed_to(
    make_env: MakeEnv,
    wheels: dict[str, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env: Env = make_env("plugin", "tts-router-example-plugin", others=("pytest>=8",))
    _report(capsys, "tts-router-example-plugin + pytest", env)
    tests = tmp_path / "plugin"
    shutil.copytree(TEMPLATE / "tests", tests / "tests")
    shutil.copy(TEMPLATE / "pyproject.toml", tests)  # its pytest settings; its package: the wheel
    suite = env.run(
        "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", tests / "tests", check=False
    )
    assert suite.returncode == 0, suite.stdout[-3000:]
    assert " passed" in suite.stdout and "failed" not in suite.stdout

    explain = env.run("tts-router", "explain", "design", "--language", "en")
    assert explain.stdout.splitlines()[0] == "sine"
    target = tmp_path / "sine.wav"
    env.run(
        "tts-router",
        "design",
        "--provider",
        "sine",
        "--text",
        "Hello there.",
        "--instruct",
        "a high voice",
        "-o",
        target,
    )
    assert decode_audio(target.read_bytes(), OUTPUT_LIMITS).sample_rate == 16_000
