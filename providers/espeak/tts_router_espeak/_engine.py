"""The eSpeak NG C library through ctypes: load once, synthesise into memory, one call at a time.

The library keeps all of its state in globals (current voice, rate, pitch, output buffers), so
two threads inside it at once corrupt memory and crash the process. Every call into it, the
one-time initialisation included, therefore holds :data:`_LOCK`. Rate, pitch and range are
global too and survive a voice change, so :func:`synthesize` sets all of them on every call.

Nothing is loaded at import: the shared library is opened by the first :func:`synthesize`.
Audio comes back through the synchronous callback into a Python list; no file is written.
"""

from __future__ import annotations

import ctypes
import os
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

from tts_router.errors import ConfigurationError, ProviderError

__all__ = [
    "DATA_PATH_VARIABLE",
    "MAX_DATA_PATH_BYTES",
    "SAMPLE_RATE",
    "VoiceParams",
    "data_path",
    "data_path_problem",
    "engine_version",
    "synthesize",
]

SAMPLE_RATE = 22_050
# The library copies the data path into a 160-byte buffer (N_PATH_HOME on Linux); a longer
# path is silently truncated and every voice then fails to load.
MAX_DATA_PATH_BYTES = 159
# Escape hatch for installs whose site-packages path is too long: copy espeak-ng-data somewhere
# short and point this variable at it.
DATA_PATH_VARIABLE = "TTS_ROUTER_ESPEAK_DATA"

_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # without it a missing data path calls exit(1) in the library
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000  # a sentence-final pause, so stitched chunks keep a natural gap
_POS_CHARACTER = 1
_PARAM_RATE = 1
_PARAM_PITCH = 3
_PARAM_RANGE = 4
_EE_OK = 0

# int callback(short *wav, int numsamples, espeak_EVENT *events); return 0 to continue.
_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)

_LOCK = threading.Lock()
_lib: ctypes.CDLL | None = None
_init_error: Exception | None = None
_version = "1.52"
# Filled by the callback during one espeak_Synth call; only touched while _LOCK is held.
_buffer: list[npt.NDArray[np.int16]] = []


@dataclass(frozen=True, slots=True)
class VoiceParams:
    """Everything one synthesis call sets: voice name (``"en+f3"``) and prosody.

    The values must lie in the ranges below: design and cloning only produce such values.
    """

    voice: str
    rate: int = 175  # words per minute, 80-450
    pitch: int = 50  # 0-99, relative to the variant's base pitch
    pitch_range: int = 50  # 0-100; 0 is a monotone


@lru_cache(maxsize=1)
def data_path() -> str:
    """The espeak-ng-data directory: the override variable if set, else the wheel's copy."""
    override = os.environ.get(DATA_PATH_VARIABLE, "").strip()
    if override:
        return override
    import espeakng_loader

    return str(espeakng_loader.get_data_path())


def data_path_problem() -> str | None:
    """None when the data path is usable; otherwise what to change (no library is loaded)."""
    try:
        path = data_path()
    except Exception:  # espeakng_loader raises RuntimeError when its data is missing
        return "reinstall espeakng-loader (its espeak-ng-data directory is missing)"
    if len(os.fsencode(path)) > MAX_DATA_PATH_BYTES:
        return (
            f"the espeak-ng-data path is {len(os.fsencode(path))} bytes; eSpeak NG accepts at "
            f"most {MAX_DATA_PATH_BYTES}: install into a shorter virtual environment path, or "
            f"copy espeak-ng-data to a short directory and set {DATA_PATH_VARIABLE} to it"
        )
    return None


def engine_version() -> str:
    """The library's version string (``"1.52"``...); loads the library if needed."""
    with _LOCK:
        _ensure_loaded()
        return _version


def synthesize(text: str, params: VoiceParams) -> npt.NDArray[np.float32]:
    """Speak ``text`` with ``params``; mono float32 samples at :data:`SAMPLE_RATE` Hz.

    Blocking and serialised: run it in a worker thread from async code. Not bit-exact across
    calls: the library carries pitch-flutter and noise state from one call to the next, so
    repeated output differs by a few samples in length and in fine detail.
    """
    encoded = _clean(text).encode("utf-8") + b"\0"
    with _LOCK:
        lib = _ensure_loaded()
        if lib.espeak_SetVoiceByName(params.voice.encode("ascii")) != _EE_OK:
            raise ProviderError(
                f"eSpeak NG has no voice {params.voice!r}", code="espeak_voice_missing"
            )
        for parameter, value in (
            (_PARAM_RATE, params.rate),
            (_PARAM_PITCH, params.pitch),
            (_PARAM_RANGE, params.pitch_range),
        ):
            lib.espeak_SetParameter(parameter, value, 0)
        _buffer.clear()
        try:
            status = lib.espeak_Synth(
                encoded, len(encoded), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None
            )
            if status != _EE_OK:
                raise ProviderError(
                    f"eSpeak NG failed to synthesise (status {status})", code="espeak_failed"
                )
            samples = np.concatenate(_buffer) if _buffer else np.zeros(0, dtype=np.int16)
        finally:
            _buffer.clear()
    return (samples.astype(np.float32) / 32768.0).astype(np.float32)


def _clean(text: str) -> str:
    # Control characters are the library's in-band command markers and NUL ends the C string:
    # keep only text, newlines and tabs.
    return "".join(ch for ch in text if ch in "\n\t" or ord(ch) >= 32)


def _collect(wav: Any, numsamples: int, _events: Any) -> int:
    # Called by the library on the synthesising thread, inside _LOCK; wav is NULL at the end.
    if wav and numsamples > 0:
        _buffer.append(np.ctypeslib.as_array(wav, shape=(numsamples,)).copy())
    return 0


# Module-level so the C function pointer outlives every call (ctypes frees it with the object).
_on_audio = _SynthCallback(_collect)


def _ensure_loaded() -> ctypes.CDLL:
    """Open and initialise the library once (caller holds _LOCK); later calls reuse it."""
    global _lib, _init_error, _version
    if _lib is not None:
        return _lib
    if _init_error is not None:
        # A second espeak_Initialize resets state and leaks: fail the same way every time.
        raise _init_error
    problem = data_path_problem()
    if problem is not None:
        _init_error = ConfigurationError(problem, code="espeak_data_path")
        raise _init_error
    import espeakng_loader

    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    _declare(lib)
    rate = lib.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, 0, os.fsencode(data_path()), _INITIALIZE_DONT_EXIT
    )
    if rate != SAMPLE_RATE:
        _init_error = ConfigurationError(
            f"eSpeak NG did not initialise (returned {rate}); check that {DATA_PATH_VARIABLE} "
            "or the espeakng-loader install points at a complete espeak-ng-data directory",
            code="espeak_init_failed",
        )
        raise _init_error
    lib.espeak_SetSynthCallback(_on_audio)
    info = lib.espeak_Info(None)
    if info:
        _version = info.decode("ascii", "replace").split()[0]
    _lib = lib
    return lib


def _declare(lib: ctypes.CDLL) -> None:
    """Give ctypes the C signatures, so arguments are converted and checked."""
    c_int, c_uint, c_void_p = ctypes.c_int, ctypes.c_uint, ctypes.c_void_p
    signatures: dict[str, tuple[list[Any], Any]] = {
        "espeak_Initialize": ([c_int, c_int, ctypes.c_char_p, c_int], c_int),
        "espeak_SetSynthCallback": ([_SynthCallback], None),
        "espeak_SetVoiceByName": ([ctypes.c_char_p], c_int),
        "espeak_SetParameter": ([c_int, c_int, c_int], c_int),
        "espeak_Synth": (
            [ctypes.c_char_p, ctypes.c_size_t, c_uint, c_int, c_uint, c_uint, c_void_p, c_void_p],
            c_int,
        ),
        "espeak_Info": ([c_void_p], ctypes.c_char_p),
    }
    for name, (argtypes, restype) in signatures.items():
        function = getattr(lib, name)
        function.argtypes, function.restype = argtypes, restype
