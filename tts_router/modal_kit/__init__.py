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
- :mod:`.volume`: :class:`VolumeWeights`, :func:`missing_weights`: whether the Volume holds a
  deployment's weights;
- :mod:`.voices`: the service's voice store in the Volume (committed after an upload,
  reloaded before a voice is declared missing), shared by every container;
- :mod:`.snapshot`: :func:`release_mapped_weights`: weights copied out of memory-mapped files
  before the memory snapshot, and :func:`mapped_files` to see what is still mapped.

The package re-exports what a provider's app module and CLI use (``__all__``); the rest is
imported from its module. ``modal`` is imported only inside functions (or for type checking),
:mod:`.gpu_service` aside: ``import tts_router`` must never import it, and this package is
importable without it.
"""

from __future__ import annotations

from .check import ImageSpec, add_check_arguments, check_flow
from .deploy_flow import add_modal_arguments, command_settings, deploy_flow, run_function_flow
from .hub import DownloadReport, fetch_hf_snapshot, tree_size
from .image import app_resources, download_function, service_class
from .settings import GPU_CAPABILITY, ModalSettings
from .smoke import add_smoke_arguments, smoke_flow
from .snapshot import release_mapped_weights
from .voices import attach_volume_voices, volume_voices_from_env
from .volume import VolumeWeights, volume_path

__all__ = [
    "GPU_CAPABILITY",
    "DownloadReport",
    "ImageSpec",
    "ModalSettings",
    "VolumeWeights",
    "add_check_arguments",
    "add_modal_arguments",
    "add_smoke_arguments",
    "app_resources",
    "attach_volume_voices",
    "check_flow",
    "command_settings",
    "deploy_flow",
    "download_function",
    "fetch_hf_snapshot",
    "release_mapped_weights",
    "run_function_flow",
    "service_class",
    "smoke_flow",
    "tree_size",
    "volume_path",
    "volume_voices_from_env",
]
