"""Qwen3-TTS provider for tts_router.

Modules, each with one job (none imports torch or qwen_tts on import):

- :mod:`.loading`: how a model loads: the load plan (device, dtype, attention; pure
  functions), the loader with its attention fallbacks, and Modal's snapshot loader.
- :mod:`.variants`: the deployable models (and combined Base+VoiceDesign apps) and their names;
  :mod:`.memory`: the memory each needs, from parameter counts and dtype.
- :mod:`.chunking`: how much text fits one generation, and the split.
- :mod:`.checks`: what generated audio is acceptable (truncation, NaN, silence, length).
- :mod:`.engine`: :class:`QwenEngine`, the qwen-tts wrapper (the service's SpeechEngine).
- :mod:`.service`: the FastAPI app over the engine(s); :mod:`.cli`: ``tts-router-qwen serve``.
- :mod:`.provider`: :class:`QwenProvider`, remote or in-process (the service app in this
  process, ``QWEN_BACKEND=local``).
- :mod:`.fixtures`: tiny random-weight model directories for tests.
"""

__version__ = "0.1.0"
