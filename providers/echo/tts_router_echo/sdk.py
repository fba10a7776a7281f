"""``ECHO_BACKEND=modal-sdk``: an earlier Echo deployment called through the Modal SDK.

Utter's first integration looked the class up by name and called ``generate(text,
reference_audio_bytes)``, which returned WAV bytes. That call has no HTTP layer, so the Modal
SDK does the retrying; this provider adds what the base class gives every provider (input
validation, chunking, output validation, typed errors).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from tts_router.audio import DecodedAudio
from tts_router.errors import ProviderUnavailableError
from tts_router.models import CloneRequest
from tts_router.provider import Capabilities, Provider, Speech
from tts_router.provider_settings import ProviderSettings

from .provider import ECHO_CAPABILITIES, EchoSettings

__all__ = ["DEFAULT_APP", "DEFAULT_CLASS", "EchoModalSdkProvider"]

DEFAULT_APP = "echo-tts"
DEFAULT_CLASS = "EchoTTS"
# The earlier deployment generated one ~30 s pass per call; keep chunks well inside it.
_SDK_MAX_TEXT_CHARS = 300

Lookup = Callable[[str, str], Any]


def _modal_lookup(app: str, cls: str) -> Any:  # the edge: Modal's cloud (not reachable in tests)
    import modal

    return modal.Cls.from_name(app, cls)


class EchoModalSdkProvider(Provider):
    """Echo-TTS through ``modal.Cls.from_name(app, cls)().generate.remote.aio(...)``."""

    id: ClassVar[str] = "echo"
    settings_model: ClassVar[type[ProviderSettings]] = EchoSettings

    def __init__(self, app: str, cls: str, *, lookup: Lookup = _modal_lookup) -> None:
        self.app_name = app
        self.class_name = cls
        self._lookup = lookup
        self._instance: Any = None

    @classmethod
    def from_settings(cls, settings: EchoSettings) -> Provider:
        """``ECHO_MODAL_APP`` and ``ECHO_MODAL_CLASS`` name the deployed class."""
        return cls(settings.modal_app or DEFAULT_APP, settings.modal_class or DEFAULT_CLASS)

    @property
    def capabilities(self) -> Capabilities:
        """English clone from audio alone, one ~30 s pass per call."""
        return ECHO_CAPABILITIES.model_copy(update={"max_text_chars": _SDK_MAX_TEXT_CHARS})

    async def _clone(
        self, text: str, language: str, request: CloneRequest, reference: DecodedAudio
    ) -> Speech:
        if self._instance is None:
            self._instance = self._lookup(self.app_name, self.class_name)()
        try:
            wav = await self._instance.generate.remote.aio(text, request.reference.audio)
        except Exception as exc:
            # Modal's own errors (app not found, timeouts) are the service's, not the caller's.
            raise ProviderUnavailableError(
                f"the Modal call to {self.app_name}.{self.class_name}.generate failed "
                f"({type(exc).__name__}); check the app is deployed and Modal credentials",
                provider=self.id,
            ) from None
        return Speech(model=f"echo-tts ({self.app_name})", mode="audio", wav=bytes(wav))
