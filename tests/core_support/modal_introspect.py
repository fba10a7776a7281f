"""Read back offline what a Modal app registered, and run its service class locally.

For the tests of :mod:`tts_router.modal_kit` and of each provider's ``modal_app.py``; nothing
here is contacted over the network. :func:`inspect_registration` and :func:`local_service`
read modal's private state: a change in modal breaks this module, not the tests.
:func:`load_app_module` imports an app module afresh under given variables, as ``modal deploy`` and
the container do; :func:`locked_image_pins` checks its image's requirement set against the lock.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tts_router.modal_kit import ModalSettings
from tts_router.modal_kit.lock import (
    Pin,
    export_requirements,
    find_lock,
    locked_versions,
    parse_pins,
)

__all__ = [
    "Registration",
    "inspect_registration",
    "load_app_module",
    "local_service",
    "locked_image_pins",
    "qwen_like_settings",
]


def qwen_like_settings(environ: Mapping[str, str], **overrides: Any) -> ModalSettings:
    """Settings of a ``qwen`` deployment with the Volume ``vol`` and two variants, from
    ``environ`` only (the kit's tests)."""
    return ModalSettings.from_env(
        "qwen",
        default_variant="0.6B-Base",
        default_volume="vol",
        variants=("0.6B-Base", "1.7B-Base"),
        environ=environ,
        overrides=overrides,
    )


def load_app_module(monkeypatch: pytest.MonkeyPatch, module: str, **env: str) -> ModuleType:
    """Import ``module`` afresh with only ``env`` among the ``TTS_ROUTER_*`` variables."""
    for name in list(os.environ):
        if name.startswith("TTS_ROUTER_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delitem(sys.modules, module, raising=False)
    return importlib.import_module(module)


def locked_image_pins(module: ModuleType, package: str) -> list[Pin]:
    """The pins of an app module's image, after checking that each is exact and the lock's,
    and that the set is what ``uv export`` gives for ``package``'s engine extra now."""
    lock = find_lock(Path(str(module.__file__)))
    assert lock is not None
    pins = parse_pins(module.IMAGE.requirements)  # raises on anything but name==version
    assert pins == export_requirements(package, ("engine",), lock), (
        f"stale: run `{module.IMAGE.command}`"
    )
    versions = locked_versions(lock)
    assert [p.line() for p in pins if p.version not in versions.get(p.name, ())] == []
    return pins


@dataclass(frozen=True, slots=True)
class Registration:
    """What Modal recorded for one ``@app.cls`` or ``@app.function``, read back offline.

    The decorators' arguments end up in modal's private state (the function spec, the
    loader's closure, the image layers); :func:`inspect_registration` is the one place that
    knows where, so a change in modal breaks one function, not the tests.
    """

    gpu: Any
    cpu: Any
    memory: Any
    volumes: dict[str, str]
    """Mount path -> Volume name."""
    secrets: tuple[str, ...]
    """Named secrets (``Secret.from_name``)."""
    env: dict[str, str]
    """Variables set on the function itself (``env=``, i.e. ``Secret.from_dict``)."""
    timeout: int
    startup_timeout: int | None
    scaledown_window: int | None
    min_containers: int | None
    max_containers: int | None
    memory_snapshot: bool
    concurrent_inputs: int | None
    target_inputs: int | None
    """``@modal.concurrent(target_inputs=)``: what the autoscaler aims for per container."""
    image_commands: tuple[str, ...]
    """Dockerfile commands of every image layer, base first."""
    local_sources: frozenset[str]
    """Packages added with ``add_local_python_source``."""
    web_endpoints: dict[str, bool]
    """Web endpoint method -> whether it requires proxy auth."""
    methods: tuple[str, ...]
    enter_snapshot: tuple[str, ...]
    enter_restore: tuple[str, ...]


def inspect_registration(obj: Any, *, builder_version: str = "2025.06") -> Registration:
    """Read back what Modal registered for a ``modal.Cls`` or ``modal.Function`` (offline)."""
    from modal._partial_function import _PartialFunctionFlags
    from modal._utils.async_utils import synchronizer

    translate: Any = synchronizer._translate_in  # untyped: the public wrapper -> the object
    raw = translate(obj)
    partials: dict[str, Any] = dict(getattr(raw, "_method_partials", None) or {})
    function = getattr(raw, "_class_service_function", None) or raw
    if hasattr(raw, "_get_partial_functions"):
        partials = dict(raw._get_partial_functions())
    spec = function._spec
    options = _closure(function._load)
    env: dict[str, str] = {}
    secrets: list[str] = []
    for secret in spec.secrets:
        inline = getattr(secret, "_load_env_dict", None)  # from_dict: resolved locally
        if inline is not None and getattr(secret, "_name", None) is None:
            env.update(inline())
        else:
            secrets.append(str(secret._name))
    autoscaler = options.get("autoscaler_settings")
    web = {
        name: bool(p.params.webhook_config.requires_proxy_auth)
        for name, p in partials.items()
        if p.params.webhook_config is not None and p.params.webhook_config.type
    }
    flags = _PartialFunctionFlags
    return Registration(
        gpu=spec.gpus,
        cpu=spec.cpu,
        memory=spec.memory,
        volumes={str(path): str(vol._name) for path, vol in spec.volumes.items()},
        secrets=tuple(secrets),
        env=env,
        timeout=int(options["timeout"]),
        startup_timeout=options.get("startup_timeout"),
        scaledown_window=getattr(autoscaler, "scaledown_window", None),
        min_containers=getattr(autoscaler, "min_containers", None),
        max_containers=getattr(autoscaler, "max_containers", None),
        memory_snapshot=bool(options.get("enable_memory_snapshot")),
        concurrent_inputs=options.get("max_concurrent_inputs"),
        target_inputs=options.get("target_concurrent_inputs_int") or None,
        image_commands=_image_commands(spec.image, builder_version),
        local_sources=frozenset(getattr(spec.image, "_added_python_source_set", ())),
        web_endpoints=web,
        methods=tuple(name for name, p in partials.items() if p.flags & flags.CALLABLE_INTERFACE),
        enter_snapshot=tuple(
            name for name, p in partials.items() if p.flags & flags.ENTER_PRE_SNAPSHOT
        ),
        enter_restore=tuple(
            name for name, p in partials.items() if p.flags & flags.ENTER_POST_SNAPSHOT
        ),
    )


def _closure(function: Any) -> dict[str, Any]:
    cells = function.__closure__ or ()
    return {
        name: cell.cell_contents
        for name, cell in zip(function.__code__.co_freevars, cells, strict=True)
    }


def _image_commands(image: Any, builder_version: str) -> tuple[str, ...]:
    layers: list[tuple[str, ...]] = []
    while image is not None:
        closure = _closure(image._load)
        dockerfile = closure.get("dockerfile_function")
        if dockerfile is not None:
            layers.append(tuple(dockerfile(builder_version).commands))
        bases = closure.get("base_images") or {}
        image = closure.get("base_image") or next(iter(bases.values()), None)
    return tuple(command for layer in reversed(layers) for command in layer)


def local_service(modal_cls: Any) -> tuple[Any, dict[str, Callable[..., Any]]]:
    """An instance of the class behind a ``modal.Cls`` and its decorated methods as plain
    bound functions: the container's code path (enter, snapshot enter, web, methods), run
    locally. Like :func:`inspect_registration` it reads modal's private state."""
    from modal._utils.async_utils import synchronizer

    translate: Any = synchronizer._translate_in
    raw = translate(modal_cls)
    instance = raw._user_cls()
    methods = {
        name: partial.raw_f.__get__(instance)
        for name, partial in raw._get_partial_functions().items()
    }
    return instance, methods
