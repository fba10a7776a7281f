"""The provider contract suite (:class:`ProviderContract`), exported by :mod:`tts_router.testing`.

A module of its own because it is pytest tests: importing it imports pytest, which
``tts_router.testing`` itself must not need.
"""

from __future__ import annotations

from typing import Any

import pytest

from .audio import OUTPUT_LIMITS, decode_audio
from .errors import (
    AudioValidationError,
    UnsupportedLanguageError,
    UnsupportedOperationError,
    ValidationError,
)
from .languages import LANGUAGES
from .models import CloneRequest, DesignRequest, VoiceReference
from .provider import Provider
from .testing import make_reference_wav

__all__ = ["ProviderContract"]


class ProviderContract:
    """Tests every provider must pass. Subclass it and define a ``provider`` fixture.

    The tests use the sync facade so no async test plugin is needed.
    """

    @pytest.fixture
    def reference(self) -> VoiceReference:
        """A synthetic reference with a transcript."""
        return VoiceReference(audio=make_reference_wav(), transcript="Hello there, my friend.")

    @pytest.fixture
    def contract_text(self) -> str:
        """Short text in a language the provider speaks."""
        return "Hello world. This is a test."

    def _language(self, provider: Provider) -> str:
        langs = provider.capabilities.languages
        return "en" if "en" in langs else next(lang for lang in langs if lang != "auto")

    def test_capabilities_are_consistent(self, provider: Provider) -> None:
        caps = provider.capabilities
        assert caps.operations, "a provider must offer at least one operation"
        assert all(lang in LANGUAGES for lang in caps.languages), "languages must be canonical"
        assert caps.sample_rate > 0 and caps.max_text_chars > 0
        assert ("clone" in caps.operations) == bool(caps.clone_modes)
        assert isinstance(provider.id, str) and provider.id

    def test_clone_returns_valid_wav_or_is_unsupported(
        self, provider: Provider, reference: VoiceReference, contract_text: str
    ) -> None:
        language = self._language(provider)
        request = CloneRequest(text=contract_text, reference=reference, language=language)
        self._check_operation(provider, "clone", request)

    def test_design_returns_valid_wav_or_is_unsupported(
        self, provider: Provider, contract_text: str
    ) -> None:
        language = self._language(provider)
        request = DesignRequest(text=contract_text, instruct="a calm voice", language=language)
        self._check_operation(provider, "design", request)

    def test_empty_text_is_rejected(self, provider: Provider, reference: VoiceReference) -> None:
        with pytest.raises(ValidationError) as info:
            self._call(provider, "   ", reference, self._language(provider))
        assert info.value.code == "empty_text"

    def test_unsupported_language_is_rejected(
        self, provider: Provider, reference: VoiceReference, contract_text: str
    ) -> None:
        unsupported = [c for c in LANGUAGES if c not in provider.capabilities.languages]
        for language in (*unsupported[:1], "tlh"):  # one we know but it lacks; one nobody knows
            with pytest.raises(UnsupportedLanguageError):
                self._call(provider, contract_text, reference, language)

    def test_unreadable_reference_is_rejected(self, provider: Provider, contract_text: str) -> None:
        bad = VoiceReference(audio=b"RIFF not really a wave file", transcript="hi")
        offered = "clone" in provider.capabilities.operations
        with pytest.raises(AudioValidationError if offered else UnsupportedOperationError):
            provider.sync.clone(
                CloneRequest(text=contract_text, reference=bad, language=self._language(provider))
            )

    def test_repr_and_errors_leak_no_text(
        self, provider: Provider, reference: VoiceReference
    ) -> None:
        secret_text = "zebra-quartz-7731"
        request = CloneRequest(text=secret_text, reference=reference)
        assert secret_text not in repr(request)
        with pytest.raises(UnsupportedLanguageError) as info:
            self._call(provider, secret_text, reference, "xx-unknown")
        assert secret_text not in str(info.value) and secret_text not in repr(info.value)

    def _call(self, provider: Provider, text: str, reference: VoiceReference, lang: str) -> Any:
        if "clone" in provider.capabilities.operations:
            return provider.sync.clone(CloneRequest(text=text, reference=reference, language=lang))
        return provider.sync.design(DesignRequest(text=text, instruct="calm", language=lang))

    def _check_operation(
        self, provider: Provider, operation: str, request: CloneRequest | DesignRequest
    ) -> None:
        """The operation's result is valid audio, or it is refused as not offered."""
        speak = getattr(provider.sync, operation)
        if operation not in provider.capabilities.operations:
            with pytest.raises(UnsupportedOperationError):
                speak(request)
            return
        result = speak(request)
        decoded = decode_audio(result.audio, OUTPUT_LIMITS)
        assert result.provider == provider.id
        assert result.request_id == request.request_id
        assert result.sample_rate == decoded.sample_rate == provider.capabilities.sample_rate
        assert abs(result.duration - decoded.duration) < 1e-3
        assert result.quality == provider.capabilities.quality
