"""Voice Studio: an Utter-shaped web app on tts_router (see :mod:`.app`)."""

from .app import create_app

__all__ = ["create_app"]
