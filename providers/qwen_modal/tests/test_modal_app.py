"""The Qwen Modal app, checked offline: what is registered for each variant and GPU, the image
against the lock, the deploy and download commands (their guards), the snapshot loader (no
weights file mapped at snapshot time), and the app the class serves (on tiny models).

Modal's cloud is never contacted; what Modal recorded is read back with
:func:`core_support.modal_introspect.inspect_registration`, the class's container code path
is run locally with :func:`core_support.modal_introspect.local_service`.
"""

from __future__ import annotations

import gc
import importlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from core_support.modal_introspect import (
    inspect_registration,
    load_app_module,
    local_service,
    locked_image_pins,
)
from tts_router_qwen_modal import cli, memory

from tts_router import modal_kit as kit
from tts_router.errors import ConfigurationError
from tts_router.modal_kit.hub import hf_cache_dir, hf_snapshot_dir
from tts_router.modal_kit.settings import GPU_MEMORY_GIB
from tts_router.modal_kit.shell import ShellApp
from tts_router.modal_kit.snapshot import file_mappings, mapped_files
from tts_router.modal_kit.volume import listing_prefixes, missing_weights
from tts_router.serving import serve_in_thread

pytest.importorskip("modal")

MODULE = "tts_router_qwen_modal.modal_app"
ROOT = Path(__file__).resolve().parents[3]
HUB_IDS = {
    "0.6B-Base": "Qwen/Qwen3-TTS-12Hz-0.6B-Base",
    "1.7B-Base": "Qwen/Qwen3-TTS-12Hz-1.7B-Base",
    "1.7B-VoiceDesign": "Qwen/Qwen3-TTS-12Hz-1.7B-VoiceDesign",
}


def load_app(monkeypatch: pytest.MonkeyPatch, **env: str) -> ModuleType:
    """Import the app module afresh under ``env`` (as `modal deploy` and the container do)."""
    return load_app_module(monkeypatch, MODULE, **env)


def test_the_module_imports_without_credentials_network_or_torch(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import socket, sys
        def refuse(*args, **kwargs):
            raise OSError("network used")
        socket.socket.connect = refuse
        socket.getaddrinfo = refuse
        import tts_router_qwen_modal.modal_app as m
        print(m.app.name, "torch" in sys.modules, "qwen_tts" in sys.modules)
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MODAL_", "TTS_ROUTER_"))}
    env["HOME"] = str(tmp_path)  # no ~/.modal.toml: no credentials at all
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.split() == ["tts-router-qwen-0-6b-base", "False", "False"]


@pytest.mark.parametrize(
    ("variant", "gpu"),
    [("0.6B-Base", "A10G"), ("1.7B-Base", "T4"), ("1.7B-VoiceDesign", "A10G"), ("0.6B-Base", "L4")],
)
def test_registered_service_per_variant_and_gpu(
    monkeypatch: pytest.MonkeyPatch, variant: str, gpu: str
) -> None:
    module = load_app(monkeypatch, TTS_ROUTER_QWEN_VARIANT=variant, TTS_ROUTER_GPU=gpu)
    assert module.app.name == "tts-router-qwen-" + variant.lower().replace(".", "-")
    service = inspect_registration(module.QwenService)
    assert service.gpu == gpu
    assert service.volumes == {"/models": "qwen3-tts-models"}
    assert service.env["HF_HUB_OFFLINE"] == "1"  # serve time: never the Hub
    assert (service.cpu, service.memory) == (4.0, 16384)  # a real CPU reservation
    assert (service.timeout, service.startup_timeout) == (900, 1200)
    assert (service.scaledown_window, service.min_containers, service.max_containers) == (300, 0, 2)
    assert service.memory_snapshot and service.concurrent_inputs == 32
    assert service.target_inputs == 16  # one engine batch per container, then scale out
    assert service.enter_snapshot == ("prepare",) and service.enter_restore == ("start",)
    assert service.web_endpoints == {"web": True}  # proxy auth on every web endpoint
    assert set(service.methods) == {"clone", "design", "health"}
    commands = service.image_commands
    assert commands[0].startswith("FROM python:3.12")
    assert "RUN apt-get install -y libsndfile1 sox" in commands  # sox: qwen-tts's wrapper
    (pip,) = [c for c in commands if "uv pip install" in c]  # one layer: the lock's set
    assert "--no-deps" in pip  # nothing resolved at build time
    for pin in ("qwen-tts==0.1.1", "torch==2.11.0", "torchaudio==2.11.0", "fastapi==", "uvicorn=="):
        assert pin in pip
    assert "ENV HF_HOME=/models/hf" in commands  # the hub cache lives in the Volume
    assert f"ENV TTS_ROUTER_QWEN_VARIANT={variant}" in commands  # same app in the container
    assert f"ENV TTS_ROUTER_GPU={gpu}" in commands
    assert service.local_sources == {"tts_router", "tts_router_qwen_modal"}


def test_registered_download_function(monkeypatch: pytest.MonkeyPatch) -> None:
    module = load_app(monkeypatch, TTS_ROUTER_MODAL_VOLUME="my-models")
    fetch = inspect_registration(module.download_models)
    assert fetch.gpu is None and fetch.volumes == {"/models": "my-models"}
    assert "HF_HUB_OFFLINE" not in fetch.env and fetch.secrets == ()  # public: no token
    with_token = load_app(monkeypatch, TTS_ROUTER_MODAL_HF_SECRET="huggingface-secret")
    assert inspect_registration(with_token.download_models).secrets == ("huggingface-secret",)


def test_download_fetches_each_model_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    module = load_app(monkeypatch, TTS_ROUTER_QWEN_VARIANT="1.7B-Base")
    seen: list[tuple[str, str]] = []

    def fetch(repo_id: str, *, cache_dir: str, **_: Any) -> str:
        seen.append((repo_id, cache_dir))
        snapshot = hf_snapshot_dir(tmp_path, repo_id, "rev")
        snapshot.mkdir(parents=True, exist_ok=True)
        (snapshot / "model.safetensors").write_bytes(b"w" * 10)
        return str(snapshot)

    local = module.SETTINGS.with_changes(mount=str(tmp_path / "vol"))
    cache = f"{tmp_path}/vol/hf/hub"
    assert [r.bytes for r in module.fetch_models("", local, fetch=fetch)] == [10]  # the variant's
    assert seen == [(HUB_IDS["1.7B-Base"], cache)]
    seen.clear()
    module.fetch_models("0.6B, design,0.6B+design,0.6B-Base", local, fetch=fetch)
    assert seen == [(HUB_IDS[v], cache) for v in ("0.6B-Base", "1.7B-VoiceDesign")]  # once each
    with pytest.raises(ValueError, match="unknown model"):
        module.fetch_models("0.6B-CustomVoice", local, fetch=fetch)


@pytest.mark.parametrize(
    ("model", "variant", "url_variables"),
    [
        ("0.6B", "0.6B-Base", ["QWEN_MODAL_URL"]),
        ("1.7B", "1.7B-Base", ["QWEN_MODAL_URL"]),
        ("design", "1.7B-VoiceDesign", ["QWEN_MODAL_DESIGN_URL"]),
        ("design+0.6B", "0.6B-Base+1.7B-VoiceDesign", ["QWEN_MODAL_URL", "QWEN_MODAL_DESIGN_URL"]),
    ],
)
def test_deploy_dry_run_builds_the_modal_deploy_invocation(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    model: str,
    variant: str,
    url_variables: list[str],
) -> None:
    load_app(monkeypatch)
    monkeypatch.setattr(subprocess, "Popen", _no_subprocess)
    assert cli.main(["deploy", "--model", model, "--gpu", "L4", "--dry-run"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("# Modal environment: ")
    cache = "hf/hub/models--" + HUB_IDS[variant.split("+", maxsplit=1)[0]].replace("/", "--")
    assert out[1].startswith(f"# would check Volume qwen3-tts-models for: {cache}/refs/main")
    line = out[2]
    assert line.endswith("-m modal deploy -m tts_router_qwen_modal.modal_app")
    assert f"TTS_ROUTER_QWEN_VARIANT={variant} " in line and "TTS_ROUTER_GPU=L4 " in line
    assert out[3].startswith("# cost: L4: ~$0.80 per GPU-hour")
    assert out[4].startswith(f"# memory: {variant} weights ~") and "of the L4's 24 GiB" in out[4]
    # After a real deploy the same flow prints the host settings (fake modal run): a combined
    # deployment is both the clone and the design service.
    lines: list[str] = []
    module = importlib.import_module(MODULE)
    args = cli.build_parser().parse_args(["deploy", "--model", model])
    settings = module.qwen_settings(variant=variant)
    web = f"https://ws--{settings.app_name}-qwenservice-web.modal.run"
    kit.deploy_flow(
        MODULE, settings, args, url_variable=url_variables, echo=lines.append,
        runner=lambda _: (0, f"Created web endpoint => {web}\n"),
    )  # fmt: skip
    assert [line for line in lines if line.startswith("QWEN_")] == [
        f"{name}={web}" for name in url_variables
    ]


def test_a_combined_deployment_is_one_app_with_both_models(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    module = load_app(monkeypatch, TTS_ROUTER_QWEN_VARIANT="0.6B-Base+1.7B-VoiceDesign")
    assert module.app.name == "tts-router-qwen-0-6b-base-1-7b-voicedesign"
    service = inspect_registration(module.QwenService)
    assert set(service.methods) == {"clone", "design", "health"} and service.gpu == "A10G"
    assert module.deployed_models(module.SETTINGS) == [
        HUB_IDS["0.6B-Base"],
        HUB_IDS["1.7B-VoiceDesign"],
    ]
    weights = module.volume_weights(module.SETTINGS)
    assert listing_prefixes(weights.patterns) == ["hf/hub"]  # one listing for both
    files = [
        f"hf/hub/models--{HUB_IDS[v].replace('/', '--')}/{name}"
        for v in ("0.6B-Base", "1.7B-VoiceDesign")
        for name in ("refs/main", "snapshots/1/config.json", "snapshots/1/model.safetensors")
    ]
    files.append(
        "hf/hub/models--Qwen--Qwen3-TTS-12Hz-0.6B-Base/snapshots/1/speech_tokenizer/m.safetensors"
    )
    assert missing_weights(files, weights.patterns) == [weights.patterns[-1]]  # design's
    assert weights.fetch == (
        "tts-router-qwen download --model 0.6B-Base && "
        "tts-router-qwen download --model 1.7B-VoiceDesign"
    )
    # Directories in the Volume instead: one per model, joined with '+', Base first.
    mine = module.qwen_settings(
        {}, variant="1.7B-Base+1.7B-VoiceDesign", model="/models/b+/models/d"
    )
    assert module.deployed_models(mine) == ["/models/b", "/models/d"]
    with pytest.raises(ConfigurationError, match="names 1 model"):
        module.deployed_models(mine.with_changes(model="/models/b"))
    # The download of a combined variant fetches both models.
    monkeypatch.setattr(subprocess, "Popen", _no_subprocess)
    assert cli.main(["download", "--model", "0.6B+design", "--dry-run"]) == 0
    assert (
        capsys.readouterr()
        .out.splitlines()[0]
        .endswith("download_models --models 0.6B-Base+1.7B-VoiceDesign")
    )


def test_deploy_refuses_a_gpu_too_small_for_the_weights(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The engine's estimate decides: a combined deployment's float32 weights (the T4 plan)
    are over half the T4 (said), and no deploy goes to a GPU they do not fit at all."""
    load_app(monkeypatch)
    monkeypatch.setattr(subprocess, "Popen", _no_subprocess)
    assert cli.main(["deploy", "--model", "1.7B+design", "--gpu", "T4", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "# memory: 1.7B-Base+1.7B-VoiceDesign weights ~12.7 GiB in float32: 79% of" in out
    assert "little left for batches" in out
    monkeypatch.setitem(GPU_MEMORY_GIB, "T4", 8)  # a GPU smaller than the weights
    assert memory.GpuFit("1.7B-Base+1.7B-VoiceDesign", "T4").fits is False
    assert cli.main(["deploy", "--model", "1.7B+design", "--gpu", "T4", "--dry-run"]) == 2
    assert "does not fit: choose a larger --gpu" in capsys.readouterr().err


def test_download_dry_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    load_app(monkeypatch)
    monkeypatch.setattr(subprocess, "Popen", _no_subprocess)
    assert cli.main(["download", "--model", "0.6B", "--model", "design", "--dry-run"]) == 0
    line = capsys.readouterr().out.splitlines()[0]
    assert line.endswith(
        "modal run -m tts_router_qwen_modal.modal_app::download_models "
        "--models 0.6B-Base,1.7B-VoiceDesign"
    )


def _no_subprocess(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a dry run must not run anything")


def test_deploy_refuses_settings_inherited_from_the_shell(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    load_app(monkeypatch)
    monkeypatch.setattr(subprocess, "Popen", _no_subprocess)
    monkeypatch.setenv("TTS_ROUTER_MODAL_MODEL", "/home/me/Qwen3-TTS")  # a local experiment
    assert cli.main(["deploy", "--model", "0.6B", "--dry-run"]) == 2
    assert "TTS_ROUTER_MODAL_MODEL" in capsys.readouterr().err
    # Said explicitly, a path in the Volume is taken (and checked there); a local one is not.
    argv = ["deploy", "--dry-run", "--set", "TTS_ROUTER_MODAL_MODEL=/models/qwen-custom"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "TTS_ROUTER_MODAL_MODEL=/models/qwen-custom " in out and "qwen-custom/config.json" in out
    assert cli.main(["deploy", "--dry-run", "--inherit-env"]) == 2
    assert "not inside the Volume" in capsys.readouterr().err


def test_volume_weights_of_each_kind_of_model(monkeypatch: pytest.MonkeyPatch) -> None:
    module = load_app(monkeypatch)
    hub = module.volume_weights(module.qwen_settings({}, variant="1.7B-Base"))
    cache = "hf/hub/models--Qwen--Qwen3-TTS-12Hz-1.7B-Base"
    listing = [
        f"{cache}/refs/main",
        f"{cache}/blobs/0a1b",
        f"{cache}/snapshots/0123/config.json",
        f"{cache}/snapshots/0123/model.safetensors",
        f"{cache}/snapshots/0123/speech_tokenizer/model.safetensors",
    ]
    assert missing_weights(listing, hub.patterns) == []
    assert missing_weights(listing[:-1], hub.patterns) == [hub.patterns[-1]]
    assert listing_prefixes(hub.patterns) == [cache]  # one listing call
    assert hub.fetch == "tts-router-qwen download --model 1.7B-Base"
    local = module.volume_weights(module.qwen_settings({}, model="/models/mine"))
    assert "mine/config.json" in local.patterns
    for wrong in ("./my-model", "/home/me/model"):
        with pytest.raises(ConfigurationError):
            module.volume_weights(module.qwen_settings({}, model=wrong))


# --------------------------------------------------------------------------- on tiny models


def test_the_class_serves_the_protocol_app(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    qwen_models: dict[str, Any],
) -> None:
    module = load_app(
        monkeypatch, TTS_ROUTER_GPU="T4", TTS_ROUTER_MODAL_MODEL=str(qwen_models["base"])
    )
    service, methods = local_service(module.QwenService)
    methods["prepare"]()  # snapshot phase: the app built, the weights in CPU memory
    methods["start"]()  # after restore: the model "on the GPU" (here the CPU)
    app = methods["web"]()
    assert isinstance(app, ShellApp) and app.shell is service
    assert service.web_app.state.loader.moved == 1
    with serve_in_thread(app) as url:
        health = httpx.get(f"{url}/health").json()
        assert health["status"] == "ok" and health["attention"] == "sdpa"
        assert cli.main(["smoke", url, "--text", "Hi there."]) == 0
    out = capsys.readouterr().out
    assert "health: ok" in out and "x_vector: " in out and "clone " in out  # mode; timing


def test_a_combined_deployment_serves_clone_and_design_at_one_url(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    qwen_models: dict[str, Any],
) -> None:
    """``--model 0.6B+design`` in the container: both models preloaded before the snapshot,
    both moved after the restore, one app answering /clone and /design."""
    models = f"{qwen_models['base']}+{qwen_models['design']}"
    module = load_app(
        monkeypatch,
        TTS_ROUTER_GPU="T4",
        TTS_ROUTER_QWEN_VARIANT="0.6B-Base+1.7B-VoiceDesign",
        TTS_ROUTER_MODAL_MODEL=models,
    )
    service, methods = local_service(module.QwenService)
    methods["prepare"]()
    assert len(service.web_app.state.loader.preloaded) == 2
    methods["start"]()
    assert service.web_app.state.loader.moved == 2
    with serve_in_thread(methods["web"]()) as url:
        health = httpx.get(f"{url}/health").json()
        assert health["operations"] == ["clone", "design"] and health["status"] == "ok"
        assert cli.main(["smoke", url, "--text", "Hi there."]) == 0
        assert cli.main(["smoke", url, "--text", "Hi there.", "--design", "a calm voice"]) == 0
    out = capsys.readouterr().out
    assert "clone " in out and "design " in out


def test_serving_loads_from_the_volume_layout_offline(
    tmp_path: Path, qwen_models: dict[str, Any]
) -> None:
    """The deployed path end to end, minus Modal: the hub id resolved in an HF cache laid out
    as in the Volume, HF_HUB_OFFLINE=1, every connection except 127.0.0.1 refused."""
    from tts_router_qwen_modal.fixtures import build_tiny_model

    hf_home = tmp_path / "models" / "hf"
    repo = HUB_IDS["0.6B-Base"]
    revision = "0123456789abcdef0123456789abcdef01234567"
    build_tiny_model(hf_snapshot_dir(hf_home, repo, revision), early_eos=True)
    refs = hf_cache_dir(hf_home) / f"models--{repo.replace('/', '--')}" / "refs"
    refs.mkdir()
    (refs / "main").write_text(revision)
    code = textwrap.dedent(
        """
        import json, socket, time
        real_connect = socket.socket.connect
        def connect(sock, address):
            if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] != "127.0.0.1":
                raise OSError(f"network used: {address[0]}")
            return real_connect(sock, address)
        socket.socket.connect = connect
        import httpx
        from core_support.modal_introspect import local_service
        from tts_router.serving import serve_in_thread
        from tts_router_qwen_modal.modal_app import QwenService
        service, methods = local_service(QwenService)
        methods["prepare"]()  # the container's snapshot phase: the app built, weights read
        with serve_in_thread(service.web_app) as url:
            deadline = time.monotonic() + 120  # the model loads (and warms up) in the background
            while (health := httpx.get(url + "/health").json())["status"] == "loading":
                assert time.monotonic() < deadline, "still loading"
                time.sleep(0.05)
            print(json.dumps(health))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTS_ROUTER_")}
    env |= {"HF_HOME": str(hf_home), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env |= {"TTS_ROUTER_GPU": "T4", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "tests")}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300,
        check=False,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    health = json.loads(out.stdout.strip().splitlines()[-1])
    assert health["status"] == "ok" and health["model"] == repo


def test_the_image_installs_exactly_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every package of the image is pinned, is the lock's, and the set is what ``uv export``
    gives for the engine extra now; the container's Python picks one version of each."""
    from packaging.markers import Marker

    pins = locked_image_pins(load_app(monkeypatch), "tts-router-qwen-modal")
    container = {
        "python_version": "3.12", "python_full_version": "3.12.10", "sys_platform": "linux",
        "platform_machine": "x86_64", "implementation_name": "cpython", "os_name": "posix",
        "platform_system": "Linux", "platform_python_implementation": "CPython",
    }  # fmt: skip
    chosen: dict[str, str] = {}
    for pin in pins:
        if not pin.marker or Marker(pin.marker).evaluate(container):
            assert pin.name not in chosen, pin  # one version per package in the container
            chosen[pin.name] = pin.version
    assert chosen["torch"] == chosen["torchaudio"] == "2.11.0"
    assert chosen["qwen-tts"] == "0.1.1" and chosen["numpy"] == "2.5.5"
    for needed in ("transformers", "accelerate", "fastapi", "uvicorn", "py3langid", "av"):
        assert needed in chosen, needed  # the engine's and the core's own dependencies


# --------------------------------------------------------------------------- snapshot safety


@pytest.mark.parametrize("gpu", ["T4", "A10G"])  # float32 (the file's dtype) and bfloat16 plans
def test_no_weights_file_stays_mapped_after_prepare(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, gpu: str
) -> None:
    """The snapshot phase's load leaves no model file mapped (read from /proc/self/maps):
    the memory snapshot holds the weights themselves, not views of the Volume's files."""
    if file_mappings() is None:
        pytest.skip("no /proc/self/maps on this platform")
    from tts_router_qwen_modal.fixtures import build_tiny_model
    from tts_router_qwen_modal.loading import load_pretrained

    model_dir = build_tiny_model(tmp_path / "model", early_eos=True)  # mapped by nothing else
    plain = load_pretrained(str(model_dir), "cpu", "float32", "sdpa")
    # The check can fail: a plain CPU load keeps both weight files mapped.
    assert {Path(p).name for p in mapped_files(model_dir)} == {"model.safetensors"}
    assert len(mapped_files(model_dir)) == 2
    del plain
    gc.collect()
    assert mapped_files(model_dir) == set()

    module = load_app(monkeypatch, TTS_ROUTER_GPU=gpu, TTS_ROUTER_MODAL_MODEL=str(model_dir))
    service, methods = local_service(module.QwenService)
    methods["prepare"]()  # @modal.enter(snap=True): the weights into CPU memory
    loader = service.web_app.state.loader
    assert loader.preloaded == (str(model_dir),)  # the model is preloaded...
    assert mapped_files(model_dir) == set()  # ...and nothing of its files is mapped
    methods["start"]()  # after the restore: the preloaded model is used
    assert loader.moved == (1 if gpu == "T4" else 0)  # A10G plans bf16, this CPU float32
    assert service.web_app.state.engines[0].loaded


def test_in_the_container_the_model_never_falls_back_to_the_cpu(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, qwen_models: dict[str, Any]
) -> None:
    """Inside a Modal container the engine is told ``cuda``: a GPU torch cannot use (a driver
    older than its CUDA build) is a logged load failure, not generation on the CPU."""
    import modal
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has a usable GPU")
    module = load_app(
        monkeypatch, TTS_ROUTER_GPU="T4", TTS_ROUTER_MODAL_MODEL=str(qwen_models["base"])
    )
    monkeypatch.setattr(modal, "is_local", lambda: False)  # as in the container
    service, methods = local_service(module.QwenService)
    methods["prepare"]()
    methods["start"]()
    (engine,) = service.web_app.state.engines
    assert engine.config.device == "cuda" and not engine.loaded
    assert "failed to load" in caplog.text
