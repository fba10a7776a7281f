"""tts_router.modal_kit, the deploy side: no leak of the local environment into a deployment,
the Volume checked before a deploy, downloads without warm GPUs, the image's requirement set
against the lock, and the ``check`` command's import under another interpreter.

Modal's cloud is the one edge faked here: ``modal`` commands go to a recording runner, the
Volume listing to a fake lister. uv runs for real (``uv export --frozen`` is offline).
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from core_support.modal_introspect import qwen_like_settings as build

from tts_router import modal_kit as kit
from tts_router.errors import ConfigurationError
from tts_router.modal_kit.check import find_python
from tts_router.modal_kit.deploy_flow import command_environment, modal_environment
from tts_router.modal_kit.lock import (
    Pin,
    export_requirements,
    locked_versions,
    parse_pins,
    system_packages,
)
from tts_router.modal_kit.modal_cli import ModalCommand, command_env, deploy_command
from tts_router.modal_kit.volume import listing_prefixes, missing_weights

ROOT = Path(__file__).resolve().parents[1]
WEIGHTS = kit.VolumeWeights(
    "Org/Model",
    ("hf/hub/models--Org--Model/refs/main", "hf/hub/models--Org--Model/snapshots/*/config.json"),
    "tts-router-x download",
)
COMPLETE = [
    "hf/hub/models--Org--Model/refs/main",
    "hf/hub/models--Org--Model/snapshots/abc/config.json",
]


def args(**values: Any) -> types.SimpleNamespace:
    base = {"env": None, "dry_run": False, "create_proxy_token": False, "download": False}
    base |= {"set": [], "inherit_env": False, "gpu": None, "min_containers": None}
    return types.SimpleNamespace(**(base | values))


def recorder(output: str = "") -> tuple[list[ModalCommand], Callable[[ModalCommand], Any]]:
    """A runner that records each command and answers status 0 with ``output``; its record."""
    ran: list[ModalCommand] = []
    return ran, lambda command: (ran.append(command), (0, output))[1]


# --------------------------------------------------------------------------- the environment


def test_inherited_settings_are_refused_and_named() -> None:
    shell = {"TTS_ROUTER_MODAL_MODEL": "/home/me/model", "TTS_ROUTER_GPU": "T4", "HOME": "/h"}
    with pytest.raises(ConfigurationError) as refused:
        kit.command_settings(args(), "qwen", build, environ=shell)
    message = str(refused.value)
    assert "TTS_ROUTER_MODAL_MODEL" in message and "TTS_ROUTER_GPU" in message
    assert "/home/me/model" not in message  # names, not values
    assert "--set" in message and "--inherit-env" in message


def test_explicit_values_win_and_replace_what_the_shell_has() -> None:
    shell = {"TTS_ROUTER_GPU": "T4", "TTS_ROUTER_QWEN_VARIANT": "1.7B-Base"}
    # The flag replaces the inherited GPU, the CLI's own choice the inherited variant.
    chosen = kit.command_settings(args(gpu="L4"), "qwen", build, environ=shell, variant="0.6B-Base")
    assert (chosen.gpu, chosen.variant) == ("L4", "0.6B-Base")
    via_set = kit.command_settings(
        args(set=["TTS_ROUTER_GPU=H100", "TTS_ROUTER_MODAL_MODEL=/models/mine"]),
        "qwen",
        build,
        environ=shell,
        variant="0.6B-Base",
    )
    assert (via_set.gpu, via_set.model) == ("H100", "/models/mine")
    inherited = kit.command_settings(args(inherit_env=True), "qwen", build, environ=shell)
    assert (inherited.gpu, inherited.variant) == ("T4", "1.7B-Base")


@pytest.mark.parametrize("item", ["TTS_ROUTER_GPU", "TTS_ROUTER_NOPE=1", "HOME=/x"])
def test_set_takes_only_the_providers_settings(item: str) -> None:
    with pytest.raises(ConfigurationError, match="NAME=VALUE"):
        command_environment(args(set=[item]), "qwen", environ={})


def test_the_modal_process_gets_only_the_commands_settings() -> None:
    command = deploy_command("pkg.app", build({}))
    env = command_env(
        command, {"TTS_ROUTER_MODAL_MODEL": "/home/me/m", "TTS_ROUTER_CONFIG": "x", "PATH": "/b"}
    )
    assert env["PATH"] == "/b" and "TTS_ROUTER_CONFIG" not in env
    assert "TTS_ROUTER_MODAL_MODEL" not in env  # the settings have no model: none is set
    assert env["TTS_ROUTER_GPU"] == "A10G"


def test_a_download_never_starts_warm_containers() -> None:
    ran, runner = recorder()
    warm = build({"TTS_ROUTER_MODAL_MIN_CONTAINERS": "1"})
    status = kit.run_function_flow(
        "pkg.app", "download_models", warm, args(), ["--models", "0.6B-Base"],
        echo=lambda _: None, runner=runner,
    )  # fmt: skip
    assert status == 0
    assert ran[0].env["TTS_ROUTER_MODAL_MIN_CONTAINERS"] == "0"
    assert ran[0].argv[-3:] == ("pkg.app::download_models", "--models", "0.6B-Base")


def test_deploy_flow_prints_the_url_and_host_settings() -> None:
    lines: list[str] = []
    ran, runner = recorder("=> https://me--tts-router-qwen-0-6b-base-qwenservice-web.modal.run\n")
    status = kit.deploy_flow(
        "pkg.modal_app", build({}), args(), url_variable="QWEN_MODAL_URL",
        echo=lines.append, runner=runner,
    )  # fmt: skip
    assert status == 0 and len(ran) == 1
    assert "QWEN_MODAL_URL=https://me--tts-router-qwen-0-6b-base-qwenservice-web.modal.run" in lines
    assert any(line.startswith("MODAL_KEY=") for line in lines)
    assert any("scales to zero" in line for line in lines)

    lines.clear()
    dry = kit.deploy_flow(
        "pkg.modal_app", build({}), args(dry_run=True), url_variable="QWEN_MODAL_URL",
        echo=lines.append, runner=runner,
    )  # fmt: skip
    assert dry == 0 and len(ran) == 1  # nothing run
    assert lines[0].startswith("# Modal environment: ")
    assert lines[1].startswith("$ TTS_ROUTER_QWEN_VARIANT=0.6B-Base") and "modal deploy" in lines[1]


def test_the_environment_is_printed_and_given_to_sdk_callers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MODAL_ENVIRONMENT", "staging")
    assert modal_environment(None) == "staging"
    assert modal_environment("prod") == "prod"
    lines: list[str] = []
    ran, runner = recorder(
        "=> https://me-prod--tts-router-qwen-0-6b-base-qwenservice-web.modal.run\n"
    )
    kit.deploy_flow(
        "pkg.app", build({}), args(env="prod"), url_variable="QWEN_MODAL_URL",
        echo=lines.append, runner=runner,
    )  # fmt: skip
    assert lines[0] == "# Modal environment: prod"
    assert ran[0].argv[-2:] == ("--env", "prod")
    assert any("MODAL_ENVIRONMENT=prod" in line for line in lines)


# --------------------------------------------------------------------------- the Volume


def test_missing_weights_and_listing_prefixes() -> None:
    assert missing_weights(COMPLETE, WEIGHTS.patterns) == []
    assert missing_weights(COMPLETE[:1], WEIGHTS.patterns) == [WEIGHTS.patterns[1]]
    assert missing_weights([], WEIGHTS.patterns) == list(WEIGHTS.patterns)
    assert listing_prefixes(WEIGHTS.patterns) == ["hf/hub/models--Org--Model"]
    assert listing_prefixes(["a/b/*.x", "c/d.json"]) == ["c", "a/b"]
    assert listing_prefixes(["x/*.json", "x/y/z/*.bin"]) == ["x"]
    assert listing_prefixes(["e/r/a/*.st", "e/r/b/c.st"]) == ["e/r"]


def test_a_path_outside_the_volume_is_refused() -> None:
    s = build({})
    assert kit.volume_path(s, "/models/mine/") == "mine"
    with pytest.raises(ConfigurationError, match="not inside the Volume"):
        kit.volume_path(s, "/home/me/model")


def test_deploy_refuses_while_the_volume_lacks_the_weights() -> None:
    ran, runner = recorder()
    listed: list[tuple[str, list[str], str | None]] = []

    def lister(volume: str, prefixes: Any, environment: str | None) -> list[str]:
        listed.append((volume, list(prefixes), environment))
        return COMPLETE[:1]

    with pytest.raises(ConfigurationError) as refused:
        kit.deploy_flow(
            "pkg.app", build({}), args(env="prod"), url_variable="U", weights=WEIGHTS,
            download=("download_models", []), echo=lambda _: None,
            runner=runner, lister=lister,
        )  # fmt: skip
    assert ran == []  # nothing deployed
    assert listed == [("vol", ["hf/hub/models--Org--Model"], "prod")]
    message = str(refused.value)
    assert "snapshots/*/config.json" in message and "tts-router-x download" in message
    assert "--download" in message


def test_deploy_with_download_fetches_first_then_checks_then_deploys() -> None:
    ran: list[ModalCommand] = []
    volume: list[str] = []

    def runner(command: ModalCommand) -> tuple[int, str]:
        ran.append(command)
        if "run" in command.argv:
            volume.extend(COMPLETE)  # the download function filled the Volume
        return 0, "=> https://x--app-web.modal.run\n"

    lines: list[str] = []
    status = kit.deploy_flow(
        "pkg.app", build({}), args(download=True), url_variable="U", weights=WEIGHTS,
        download=("download_models", ["--models", "0.6B-Base"]), echo=lines.append,
        runner=runner, lister=lambda *_: list(volume),
    )  # fmt: skip
    assert status == 0
    assert ["run" in c.argv for c in ran] == [True, False]  # download, then deploy
    assert "# Volume vol holds Org/Model" in lines


def test_a_dry_run_lists_nothing() -> None:
    def lister(*_: Any) -> list[str]:
        raise AssertionError("a dry run must not call Modal")

    lines: list[str] = []
    status = kit.deploy_flow(
        "pkg.app", build({}), args(dry_run=True), url_variable="U", weights=WEIGHTS,
        echo=lines.append, lister=lister,
    )  # fmt: skip
    assert status == 0 and any(line.startswith("# would check Volume vol") for line in lines)


# --------------------------------------------------------------------------- the lock


@pytest.mark.parametrize(
    "line", ["torch>=2", "torch", "-e .", "pkg @ https://x/y.whl", "torch==2.1 or so"]
)
def test_only_exact_pins_are_accepted(line: str) -> None:
    with pytest.raises(ConfigurationError, match="exact pin"):
        parse_pins([line])


def test_pins_keep_their_markers_and_names_are_normalised() -> None:
    (pin,) = parse_pins(["Typing_Extensions==4.16.0 ; python_full_version >= '3.12'  # c"])
    assert pin == Pin("typing-extensions", "4.16.0", "python_full_version >= '3.12'")
    assert parse_pins(["# comment", ""]) == []


def test_system_packages_follow_the_requirement_set() -> None:
    pins = parse_pins(["torchcodec==0.17.0", "soundfile==0.14.0", "numpy==2.5.5"])
    assert system_packages(pins, ("git",)) == ("git", "ffmpeg", "libsndfile1")


APP_SOURCE = """
import modal
from tts_router import modal_kit as kit

SETTINGS = kit.ModalSettings.from_env("qwen", default_variant="0.6B-Base", default_volume="v")
app = modal.App(SETTINGS.app_name)
"""


def spec(tmp_path: Path, requirements: tuple[str, ...]) -> kit.ImageSpec:
    return kit.ImageSpec(
        package="tts-router-core",
        extras=("serve",),
        requirements=requirements,
        module_file=tmp_path / "image_requirements.py",
        command="x check --write",
        app_module="checked_app.modal_app",
        source_packages=("tts_router", "checked_app"),
    )


def check_args(**values: Any) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        **({"write": False, "python": sys.executable, "full": False, "offline": True} | values)
    )


def test_check_finds_a_stale_set_and_rewrites_it(tmp_path: Path) -> None:
    lock = ROOT / "uv.lock"
    fresh = export_requirements("tts-router-core", ("serve",), lock)
    assert {p.name for p in fresh} >= {"fastapi", "uvicorn", "pydantic", "numpy"}
    assert "tts-router-core" not in {p.name for p in fresh}  # the image adds it as source
    versions = locked_versions(lock)
    assert all(p.version in versions[p.name] for p in fresh)

    stale = (*[p.line() for p in fresh if p.name != "fastapi"], "fastapi==0.1.0")
    lines: list[str] = []
    status = kit.check_flow(
        check_args(), spec(tmp_path, stale), build({}), echo=lines.append, cwd=ROOT
    )
    assert status == 1
    assert "- fastapi==0.1.0" in lines and any(line.startswith("+ fastapi==") for line in lines)
    assert "x check --write" in lines[-1]
    assert not (tmp_path / "image_requirements.py").exists()


def test_check_write_then_import_under_another_interpreter(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The whole command, offline: the set regenerated from the lock, a fresh environment on
    the given interpreter filled from uv's cache (this test's interpreter: the container's
    3.12 is not installed here), and the app module imported there with the deployment's
    variables and only the local source packages on its path."""
    package = tmp_path / "src" / "checked_app"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "modal_app.py").write_text(APP_SOURCE)
    monkeypatch.syspath_prepend(str(tmp_path / "src"))
    lines: list[str] = []
    status = kit.check_flow(
        check_args(write=True), spec(tmp_path, ("fastapi==0.1.0",)),
        build({"TTS_ROUTER_MODAL_APP": "checked-app"}), echo=lines.append, cwd=ROOT,
    )  # fmt: skip
    assert status == 0, lines
    written = (tmp_path / "image_requirements.py").read_text()
    namespace: dict[str, Any] = {}
    exec(compile(written, "image_requirements.py", "exec"), namespace)
    assert namespace["PACKAGE"] == "tts-router-core" and namespace["EXTRAS"] == ("serve",)
    assert parse_pins(namespace["REQUIREMENTS"]) == export_requirements(
        "tts-router-core", ("serve",), ROOT / "uv.lock"
    )
    version = ".".join(map(str, sys.version_info[:2]))
    assert any(
        f"under Python {version}." in line and line.endswith("app checked-app") for line in lines
    ), lines


def test_a_missing_interpreter_says_what_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UV_PYTHON_DOWNLOADS", "never")
    with pytest.raises(ConfigurationError) as missing:
        find_python("3.4")
    message = str(missing.value)
    assert "uv python find 3.4" in message and "uv python install 3.4" in message
    assert "--python" in message
    with pytest.raises(ConfigurationError, match="no such file"):
        find_python("/nonexistent/python3.12")
