"""Offline language detection, for requests whose language is ``"auto"``.

:func:`detect_language` identifies the language of a text among the languages of
:mod:`tts_router.languages` with `py3langid <https://pypi.org/project/py3langid/>`_ (a
maintained fork of langid.py: a naive Bayes model over byte n-grams, 4.5 MB with its model,
numpy only). Measured on the shared sample texts (one or two sentences in each of Qwen3-TTS's
ten languages, and three English texts): every text and every one of their 49 sentences is
identified correctly; see ``tests/test_detect.py``.

A detection is *confident* when the text has at least :data:`MIN_LETTERS` letters and the
normalised probability of the best language is at least :data:`CONFIDENCE`; the router routes
by a confident detection only, and otherwise treats the request as ``auto`` (providers that
list ``"auto"`` decide). The model loads on first use (about a second, once per process);
later calls take well under a millisecond per sentence. Thread-safe.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from .languages import LANGUAGES

__all__ = ["CONFIDENCE", "MIN_LETTERS", "Detection", "detect_language", "detector_loaded"]

CONFIDENCE = 0.9
"""The lowest probability (normalised over the table's languages) routed by."""
MIN_LETTERS = 4
"""Fewer letters than this ("OK", "Hi.") are never a confident detection."""
# The start of a long text decides: a chapter needs no more than this to be identified.
_SAMPLE_CHARS = 2_000
# py3langid's labels that our table spells differently.
_LABEL_TO_CODE = {"no": "nb"}

_lock = threading.Lock()
_identifier: Any = None


@dataclass(frozen=True, slots=True)
class Detection:
    """What :func:`detect_language` found: ``language`` is set only when it is confident."""

    language: str | None
    """The canonical code, when the detection is confident; else None."""
    guess: str | None
    """The most likely language even when not confident (None: nothing to judge)."""
    confidence: float
    """Probability of ``guess`` among the table's languages, 0 to 1."""
    letters: int
    """Letters in the text sample judged."""

    @property
    def confident(self) -> bool:
        """Whether the router may route by this detection."""
        return self.language is not None

    def describe(self) -> str:
        """One line for ``explain`` and error messages (never quotes the text)."""
        if self.language is not None:
            name = LANGUAGES[self.language].name
            return (
                f"detected {self.language!r} ({name}) from the text, "
                f"confidence {self.confidence:.2f}"
            )
        if self.letters < MIN_LETTERS or self.guess is None:
            return f"the text is too short to detect its language ({self.letters} letters)"
        return (
            f"the text's language is uncertain (best guess {self.guess!r} at "
            f"{self.confidence:.2f}, below {CONFIDENCE:g})"
        )


def detector_loaded() -> bool:
    """Whether the model is already in memory (the first detection loads it: ~1 s)."""
    return _identifier is not None


def detect_language(text: str) -> Detection:
    """Identify the language of ``text`` offline (see the module's notes on confidence)."""
    sample = text[:_SAMPLE_CHARS]
    letters = sum(1 for ch in sample if ch.isalpha())
    if letters == 0:
        return Detection(language=None, guess=None, confidence=0.0, letters=0)
    label, probability = _model().classify(sample)
    code = _LABEL_TO_CODE.get(str(label), str(label))
    confidence = float(probability)
    confident = letters >= MIN_LETTERS and confidence >= CONFIDENCE and code in LANGUAGES
    return Detection(
        language=code if confident else None,
        guess=code if code in LANGUAGES else None,
        confidence=confidence,
        letters=letters,
    )


def _model() -> Any:
    global _identifier
    if _identifier is None:
        with _lock:
            if _identifier is None:
                from py3langid.langid import MODEL_FILE, LanguageIdentifier

                identifier = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
                ours = [c for c in identifier.nb_classes if _LABEL_TO_CODE.get(c, c) in LANGUAGES]
                identifier.set_languages(ours)
                _identifier = identifier
    return _identifier
