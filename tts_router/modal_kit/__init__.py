"""What every provider's Modal app shares, so that each app file stays a thin shell.

A provider's ``modal_app.py`` reads its :class:`ModalSettings` from the environment at deploy
time (:meth:`ModalSettings.from_env`), then builds everything else from these modules, one job each:

- :mod:`.settings`: :class:`ModalSettings` (which model, on what GPU, how it scales), the
  ``TTS_ROUTER_*`` variables, GPU prices and compute capabilities;
- :mod:`.image`: the image, the weights Volume and the keyword arguments of ``@app.cls`` and
  ``@app.function`` (:func:`build_image`, :func:`model_volume`, :func:`service_options`,
  :func:`download_options`, and :func:`app_resources`, :func:`service_class`,
  :func:`download_function` over them);
- :mod:`.shell`: :class:`ServiceShell`, the plain base of the service class;
- :mod:`.hub`: :func:`fetch_hf_snapshot`, :func:`tree_size`: downloads into the Volume;
- :mod:`.commands`: ``modal`` CLI invocations (:func:`deploy_command`,
  :func:`modal_run_command`, :func:`run_modal`, :func:`find_web_url`);
- :mod:`.cli`: the provider CLIs' ``deploy``/``download`` flags and flows
  (:func:`deploy_flow`, :func:`host_settings`, :func:`cost_note`, :func:`create_proxy_token`);
- :mod:`.smoke`: :func:`smoke`: health, languages and one short clone against a URL, timed.

``modal`` is imported only inside functions (or for type checking): ``import tts_router``
must never import it, and this package is importable without it.
"""

from __future__ import annotations

from .cli import (
    add_modal_arguments,
    cost_note,
    create_proxy_token,
    deploy_flow,
    host_settings,
    run_function_flow,
    settings_from_args,
)
from .commands import (
    ModalCommand,
    deploy_command,
    find_web_url,
    modal_run_command,
    run_modal,
    run_streaming,
)
from .hub import DownloadReport, fetch_hf_snapshot, hf_cache_dir, hf_snapshot_dir, tree_size
from .image import (
    CORE_REQUIREMENTS,
    PYTHON_VERSION,
    SERVE_ENV,
    TORCH_REQUIREMENTS,
    app_resources,
    build_image,
    download_function,
    download_options,
    model_volume,
    service_class,
    service_options,
)
from .settings import (
    DEFAULT_GPU,
    ENV_PREFIX,
    GPU_CAPABILITY,
    GPU_PRICE_PER_HOUR,
    TORCH_INDEX_URL,
    ModalSettings,
    app_name_for,
)
from .shell import ServiceShell
from .smoke import SmokeReport, add_smoke_arguments, smoke, smoke_flow

__all__ = [
    "CORE_REQUIREMENTS",
    "DEFAULT_GPU",
    "ENV_PREFIX",
    "GPU_CAPABILITY",
    "GPU_PRICE_PER_HOUR",
    "PYTHON_VERSION",
    "SERVE_ENV",
    "TORCH_INDEX_URL",
    "TORCH_REQUIREMENTS",
    "DownloadReport",
    "ModalCommand",
    "ModalSettings",
    "ServiceShell",
    "SmokeReport",
    "add_modal_arguments",
    "add_smoke_arguments",
    "app_name_for",
    "app_resources",
    "build_image",
    "cost_note",
    "create_proxy_token",
    "deploy_command",
    "deploy_flow",
    "download_function",
    "download_options",
    "fetch_hf_snapshot",
    "find_web_url",
    "hf_cache_dir",
    "hf_snapshot_dir",
    "host_settings",
    "modal_run_command",
    "model_volume",
    "run_function_flow",
    "run_modal",
    "run_streaming",
    "service_class",
    "service_options",
    "settings_from_args",
    "smoke",
    "smoke_flow",
    "tree_size",
]
