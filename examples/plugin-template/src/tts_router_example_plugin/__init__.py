"""An example provider plugin for tts_router: a "voice" of sine tones (see README.md)."""

__version__ = "0.1.0"
