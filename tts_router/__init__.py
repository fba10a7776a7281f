"""tts_router: text to speech through interchangeable, plugin-based providers.

``import tts_router`` is instant: names are imported from their modules on first access (PEP
562), and no provider, torch or modal is imported until a :class:`Router` loads plugins.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .audio import AudioLimits, DecodedAudio, decode_audio, encode_wav, stitch
    from .detect import Detection, detect_language
    from .errors import (
        AudioValidationError,
        AuthenticationError,
        ConfigurationError,
        NoProviderError,
        OutputValidationError,
        PluginError,
        ProviderError,
        ProviderUnavailableError,
        RateLimitedError,
        TruncatedOutputError,
        TTSRouterError,
        UnsupportedLanguageError,
        UnsupportedOperationError,
        ValidationError,
    )
    from .hookspecs import hookimpl
    from .languages import LANGUAGES, Language, normalize_language
    from .models import (
        CloneMode,
        CloneRequest,
        DesignRequest,
        Operation,
        QualityTier,
        SpeechResult,
        VoiceReference,
    )
    from .provider import Capabilities, Health, Provider, Speech
    from .router import Candidate, Decision, LanguageOption, Router, select
    from .settings import Settings
    from .text import split_text

__version__ = "0.1.0"

_LAZY: dict[str, str] = {
    "AudioLimits": "audio",
    "AudioValidationError": "errors",
    "AuthenticationError": "errors",
    "Candidate": "router",
    "Capabilities": "provider",
    "CloneMode": "models",
    "CloneRequest": "models",
    "ConfigurationError": "errors",
    "Decision": "router",
    "DecodedAudio": "audio",
    "DesignRequest": "models",
    "Detection": "detect",
    "Health": "provider",
    "LANGUAGES": "languages",
    "Language": "languages",
    "LanguageOption": "router",
    "NoProviderError": "errors",
    "Operation": "models",
    "OutputValidationError": "errors",
    "PluginError": "errors",
    "Provider": "provider",
    "ProviderError": "errors",
    "ProviderUnavailableError": "errors",
    "QualityTier": "models",
    "RateLimitedError": "errors",
    "Router": "router",
    "Settings": "settings",
    "Speech": "provider",
    "SpeechResult": "models",
    "TTSRouterError": "errors",
    "TruncatedOutputError": "errors",
    "UnsupportedLanguageError": "errors",
    "UnsupportedOperationError": "errors",
    "ValidationError": "errors",
    "VoiceReference": "models",
    "decode_audio": "audio",
    "detect_language": "detect",
    "encode_wav": "audio",
    "hookimpl": "hookspecs",
    "normalize_language": "languages",
    "select": "router",
    "split_text": "text",
    "stitch": "audio",
}

__all__ = [
    "LANGUAGES",
    "AudioLimits",
    "AudioValidationError",
    "AuthenticationError",
    "Candidate",
    "Capabilities",
    "CloneMode",
    "CloneRequest",
    "ConfigurationError",
    "Decision",
    "DecodedAudio",
    "DesignRequest",
    "Detection",
    "Health",
    "Language",
    "LanguageOption",
    "NoProviderError",
    "Operation",
    "OutputValidationError",
    "PluginError",
    "Provider",
    "ProviderError",
    "ProviderUnavailableError",
    "QualityTier",
    "RateLimitedError",
    "Router",
    "Settings",
    "Speech",
    "SpeechResult",
    "TTSRouterError",
    "TruncatedOutputError",
    "UnsupportedLanguageError",
    "UnsupportedOperationError",
    "ValidationError",
    "VoiceReference",
    "__version__",
    "decode_audio",
    "detect_language",
    "encode_wav",
    "hookimpl",
    "normalize_language",
    "select",
    "split_text",
    "stitch",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'tts_router' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
