"""The Modal-decorated base of every provider's GPU service class.

:class:`GpuService` declares, once, what each provider's ``@app.cls`` class serves: the
snapshot phase (``prepare``: torch's threads, the heavy imports and the protocol app, built by
the provider's :meth:`GpuService.build_app`), the restore (``start``: the model loaded before
any input), ``stop``, the proxy-authenticated web endpoint ``web``, and the SDK methods
``clone`` and ``health`` (bytes in, bytes out, through the same app). A provider's app module
subclasses it at module level (Modal finds decorated classes only there, and registers the
methods a class inherits), decorates it with :func:`.image.service_class`, which also hands it
its :class:`~.settings.ModalSettings`, and adds its own methods (Qwen's ``design``).

This module imports ``modal``; only the providers' app modules import it (the package itself
never does).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import modal

from .settings import ModalSettings
from .shell import ServiceShell, ShellApp, container_device

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["GpuService"]


class GpuService(ServiceShell):
    """The lifecycle, web endpoint and SDK methods of a provider's Modal service class."""

    settings: ClassVar[ModalSettings]
    """The deployment's settings (set by :func:`.image.service_class`)."""
    default_language: ClassVar[str] = "auto"
    """What ``clone`` speaks when the caller names no language."""

    def build_app(self, device: str | None, serving_options: dict[str, Any]) -> FastAPI:
        """The protocol app, built before the snapshot on ``device`` (``"cuda"`` in a GPU
        container, None elsewhere) with the settings' ``create_app`` options (batching)."""
        raise NotImplementedError

    @modal.enter(snap=True)
    def prepare(self) -> None:
        """Before the snapshot (no GPU): torch's threads, the imports, the app built."""
        from ..serving.options import set_torch_threads

        settings = self.settings
        set_torch_threads(settings.torch_threads)
        app = self.build_app(container_device(settings.gpu), settings.serving_options())
        self.open(app, settings.provider, ready_timeout_s=settings.startup_timeout_s)

    @modal.enter(snap=False)
    def start(self) -> None:
        """After the restore: the model onto the GPU before any input is taken."""
        self.start_engine()

    @modal.exit()
    async def stop(self) -> None:
        """The service's worker stopped (if the web endpoint's lifespan did not already)."""
        await self.stop_service()

    @modal.asgi_app(requires_proxy_auth=True)
    def web(self) -> ShellApp:
        """The protocol app, started by the shell before the first request (see
        :class:`.shell.ShellApp`); Modal answers 401 without ``Modal-Key``/``Modal-Secret``."""
        return self.asgi()

    @modal.method()
    async def clone(
        self,
        text: str,
        reference_audio: bytes,
        language: str | None = None,
        transcript: str | None = None,
        seed: int | None = None,
    ) -> bytes:
        """Clone from reference audio bytes; WAV bytes back (SDK callers: no 150 s limit)."""
        return await self.clone_wav(
            text,
            reference_audio,
            language=language or self.default_language,
            transcript=transcript,
            seed=seed,
        )

    @modal.method()
    async def health(self) -> dict[str, Any]:
        """What is loaded where (the ``/health`` body)."""
        return await self.health_info()
