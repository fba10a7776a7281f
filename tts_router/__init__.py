"""tts_router: text to speech through interchangeable, plugin-based providers.

``import tts_router`` is instant: names are imported from their modules on first access (PEP
562), and no provider, torch or modal is imported until a :class:`Router` loads plugins.

Constants and types exported beside the classes and functions:

- ``LANGUAGES``: the one language table, canonical code -> :class:`Language`.
- ``ERRORS``: the one error table, code -> :class:`ErrorSpec` (class, HTTP status, retryable,
  fallback).
- ``FORMATS`` and ``AudioFormat``: the output formats :func:`encode` writes.
- ``Operation`` (``clone``/``design``), ``CloneMode`` (``icl``, ``x_vector``, ``audio``,
  ``approximate``, ``design``) and ``QualityTier`` (``reference``/``approximate``): the literal
  types of requests and results.
- ``hookimpl``: the marker a plugin's ``register_providers`` hook carries.
- ``ServiceURL``: the type of a settings field holding a service's base URL (checked: http(s),
  no credentials, no query), see :class:`ProviderSettings`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # for type checkers; at run time the names load on first use (_LAZY)
    from .audio import AudioLimits as AudioLimits
    from .audio import DecodedAudio as DecodedAudio
    from .audio import decode_audio as decode_audio
    from .audio import encode_wav as encode_wav
    from .audio import stitch as stitch
    from .client_options import CircuitOptions as CircuitOptions
    from .client_options import RetryOptions as RetryOptions
    from .client_options import Timeouts as Timeouts
    from .detect import Detection as Detection
    from .detect import detect_language as detect_language
    from .errors import ERRORS as ERRORS
    from .errors import AudioValidationError as AudioValidationError
    from .errors import AuthenticationError as AuthenticationError
    from .errors import ConfigurationError as ConfigurationError
    from .errors import ErrorSpec as ErrorSpec
    from .errors import NoProviderError as NoProviderError
    from .errors import OutputValidationError as OutputValidationError
    from .errors import PluginError as PluginError
    from .errors import ProviderError as ProviderError
    from .errors import ProvidersFailedError as ProvidersFailedError
    from .errors import ProviderTimeoutError as ProviderTimeoutError
    from .errors import ProviderUnavailableError as ProviderUnavailableError
    from .errors import RateLimitedError as RateLimitedError
    from .errors import StreamInterruptedError as StreamInterruptedError
    from .errors import TruncatedOutputError as TruncatedOutputError
    from .errors import TTSRouterError as TTSRouterError
    from .errors import UnsupportedLanguageError as UnsupportedLanguageError
    from .errors import UnsupportedOperationError as UnsupportedOperationError
    from .errors import ValidationError as ValidationError
    from .formats import FORMATS as FORMATS
    from .formats import AudioFormat as AudioFormat
    from .formats import EncodedAudio as EncodedAudio
    from .formats import encode as encode
    from .hookspecs import hookimpl as hookimpl
    from .http import ServiceClient as ServiceClient
    from .languages import LANGUAGES as LANGUAGES
    from .languages import Language as Language
    from .languages import normalize_language as normalize_language
    from .models import CloneMode as CloneMode
    from .models import CloneRequest as CloneRequest
    from .models import DesignRequest as DesignRequest
    from .models import Operation as Operation
    from .models import QualityTier as QualityTier
    from .models import SpeechResult as SpeechResult
    from .models import VoiceReference as VoiceReference
    from .provider import Capabilities as Capabilities
    from .provider import Health as Health
    from .provider import Provider as Provider
    from .provider import Speech as Speech
    from .provider_settings import ProviderSettings as ProviderSettings
    from .provider_settings import ServiceURL as ServiceURL
    from .provider_settings import setting as setting
    from .remote import ModalProxyAuth as ModalProxyAuth
    from .remote import RemoteProvider as RemoteProvider
    from .remote import RemoteSettings as RemoteSettings
    from .remote import ServiceConfig as ServiceConfig
    from .router import Candidate as Candidate
    from .router import Decision as Decision
    from .router import LanguageOption as LanguageOption
    from .router import Router as Router
    from .router import probe as probe
    from .router import select as select
    from .serving.contract import ChunkingEngine as ChunkingEngine
    from .serving.contract import CloneJob as CloneJob
    from .serving.contract import DesignJob as DesignJob
    from .serving.contract import EngineResult as EngineResult
    from .serving.contract import SpeechEngine as SpeechEngine
    from .settings import Settings as Settings
    from .streaming import AudioChunk as AudioChunk
    from .text import split_text as split_text

__version__ = "0.1.0"

# The public API, in one place: each module and the names it lends the package. ``__all__`` is
# these names; tests/test_public_api.py checks the TYPE_CHECKING imports above say the same.
_EXPORTS = {
    "audio": "AudioLimits DecodedAudio decode_audio encode_wav stitch",
    "client_options": "CircuitOptions RetryOptions Timeouts",
    "detect": "Detection detect_language",
    "errors": "ERRORS AudioValidationError AuthenticationError ConfigurationError ErrorSpec "
    "NoProviderError OutputValidationError PluginError ProviderError ProvidersFailedError "
    "ProviderTimeoutError ProviderUnavailableError RateLimitedError StreamInterruptedError "
    "TruncatedOutputError TTSRouterError UnsupportedLanguageError UnsupportedOperationError "
    "ValidationError",
    "formats": "FORMATS AudioFormat EncodedAudio encode",
    "hookspecs": "hookimpl",
    "http": "ServiceClient",
    "languages": "LANGUAGES Language normalize_language",
    "models": "CloneMode CloneRequest DesignRequest Operation QualityTier SpeechResult "
    "VoiceReference",
    "provider": "Capabilities Health Provider Speech",
    "provider_settings": "ProviderSettings ServiceURL setting",
    "remote": "ModalProxyAuth RemoteProvider RemoteSettings ServiceConfig",
    "router": "Candidate Decision LanguageOption Router probe select",
    "serving.contract": "ChunkingEngine CloneJob DesignJob EngineResult SpeechEngine",
    "settings": "Settings",
    "streaming": "AudioChunk",
    "text": "split_text",
}
_LAZY: dict[str, str] = {
    name: module for module, names in _EXPORTS.items() for name in names.split()
}

__all__ = sorted([*_LAZY, "__version__"])  # noqa: PLE0605 (built from the one table)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tts_router' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
