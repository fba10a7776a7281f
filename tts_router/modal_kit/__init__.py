"""What every provider's Modal app shares, so that each app file stays a thin shell.

A provider's ``modal_app.py`` reads its :class:`ModalSettings` from the environment at deploy
time (:meth:`ModalSettings.from_env`), then builds everything else from these modules, one job
each:

- :mod:`.settings`: :class:`ModalSettings` (which model, on what GPU, how it scales), the
  ``TTS_ROUTER_*`` variables, GPU prices, memory sizes and compute capabilities;
- :mod:`.image`: the image, the weights Volume and the keyword arguments of ``@app.cls`` and
  ``@app.function`` (:func:`build_image`, :func:`model_volume`, :func:`service_options`,
  :func:`download_options`, and :func:`app_resources`, :func:`service_class`,
  :func:`download_function` over them);
- :mod:`.shell`: :class:`ServiceShell`, the plain base of the service class, and
  :class:`ShellApp`, the ASGI app its web endpoint serves (the shell owns the start-up order);
- :mod:`.gpu_service`: ``GpuService``, the Modal-decorated base every provider's service class
  subclasses (lifecycle, web endpoint, ``clone``/``health`` methods); it imports ``modal``, so
  only the app modules import it, never this package;
- :mod:`.hub`: :func:`fetch_hf_snapshot`, :func:`tree_size`: downloads into the Volume;
- :mod:`.modal_cli`: ``modal`` CLI invocations (:func:`deploy_command`,
  :func:`modal_run_command`, :func:`run_modal`, :func:`find_web_url`);
- :mod:`.deploy_flow`: the provider CLIs' ``deploy``/``download`` flags and flows
  (:func:`deploy_flow`, :func:`command_settings`, the guard against inherited ``TTS_ROUTER_*``
  values :func:`command_environment`, :func:`host_settings`, :func:`cost_note`,
  :func:`create_proxy_token`);
- :mod:`.smoke`: :func:`smoke`: health, languages and one short clone against a URL, timed;
- :mod:`.lock`: the image's requirement set as ``uv.lock`` pins it (:func:`export_requirements`,
  :func:`parse_pins`, :func:`render_module`), and the Debian packages it needs;
- :mod:`.check`: :func:`check_flow`, the providers' ``check`` command (the set against the
  lock, the app module imported under the container's Python);
- :mod:`.volume`: :func:`check_volume`: whether the Volume holds a deployment's weights;
- :mod:`.voices`: the service's voice store in the Volume (committed after an upload,
  reloaded before a voice is declared missing), shared by every container;
- :mod:`.snapshot`: :func:`release_mapped_weights`: weights copied out of memory-mapped files
  before the memory snapshot, and :func:`mapped_files` to see what is still mapped.

``modal`` is imported only inside functions (or for type checking), :mod:`.gpu_service` aside:
``import tts_router`` must never import it, and this package is importable without it.
"""

from __future__ import annotations

from .check import ImageSpec, add_check_arguments, check_flow, find_python, import_check
from .deploy_flow import (
    add_modal_arguments,
    command_environment,
    command_settings,
    cost_note,
    create_proxy_token,
    deploy_flow,
    host_settings,
    modal_environment,
    run_function_flow,
    settings_from_args,
)
from .hub import DownloadReport, fetch_hf_snapshot, hf_cache_dir, hf_snapshot_dir, tree_size
from .image import (
    PYTHON_VERSION,
    SERVE_ENV,
    app_resources,
    build_image,
    download_function,
    download_options,
    model_volume,
    service_class,
    service_options,
)
from .lock import (
    SYSTEM_PACKAGES,
    Pin,
    export_requirements,
    find_lock,
    locked_versions,
    normalize_name,
    parse_pins,
    render_module,
    split_torch,
    system_packages,
    uv_command,
)
from .modal_cli import (
    ModalCommand,
    command_env,
    deploy_command,
    find_web_url,
    modal_run_command,
    run_modal,
    run_streaming,
)
from .settings import (
    DEFAULT_GPU,
    ENV_PREFIX,
    GPU_CAPABILITY,
    GPU_PRICE_PER_HOUR,
    TORCH_INDEX_URL,
    ModalSettings,
    app_name_for,
    setting_variables,
    variable_for,
)
from .shell import ServiceShell, ShellApp, container_device
from .smoke import SmokeReport, add_smoke_arguments, smoke, smoke_flow
from .snapshot import file_mappings, mapped_files, release_mapped_weights
from .voices import attach_volume_voices, volume_voices_from_env
from .volume import (
    VolumeLister,
    VolumeWeights,
    check_volume,
    list_volume,
    listing_prefixes,
    missing_weights,
    volume_path,
)

__all__ = [
    "DEFAULT_GPU",
    "ENV_PREFIX",
    "GPU_CAPABILITY",
    "GPU_PRICE_PER_HOUR",
    "PYTHON_VERSION",
    "SERVE_ENV",
    "SYSTEM_PACKAGES",
    "TORCH_INDEX_URL",
    "DownloadReport",
    "ImageSpec",
    "ModalCommand",
    "ModalSettings",
    "Pin",
    "ServiceShell",
    "ShellApp",
    "SmokeReport",
    "VolumeLister",
    "VolumeWeights",
    "add_check_arguments",
    "add_modal_arguments",
    "add_smoke_arguments",
    "app_name_for",
    "app_resources",
    "attach_volume_voices",
    "build_image",
    "check_flow",
    "check_volume",
    "command_env",
    "command_environment",
    "command_settings",
    "container_device",
    "cost_note",
    "create_proxy_token",
    "deploy_command",
    "deploy_flow",
    "download_function",
    "download_options",
    "export_requirements",
    "fetch_hf_snapshot",
    "file_mappings",
    "find_lock",
    "find_python",
    "find_web_url",
    "hf_cache_dir",
    "hf_snapshot_dir",
    "host_settings",
    "import_check",
    "list_volume",
    "listing_prefixes",
    "locked_versions",
    "mapped_files",
    "missing_weights",
    "modal_environment",
    "modal_run_command",
    "model_volume",
    "normalize_name",
    "parse_pins",
    "release_mapped_weights",
    "render_module",
    "run_function_flow",
    "run_modal",
    "run_streaming",
    "service_class",
    "service_options",
    "setting_variables",
    "settings_from_args",
    "smoke",
    "smoke_flow",
    "split_torch",
    "system_packages",
    "tree_size",
    "uv_command",
    "variable_for",
    "volume_path",
    "volume_voices_from_env",
]
