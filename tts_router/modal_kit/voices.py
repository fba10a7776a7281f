"""Uploaded voices in the Modal Volume: they survive a scale to zero and containers share them.

The image sets ``TTS_ROUTER_VOICES_DIR`` (:attr:`ModalSettings.voices_dir`, inside the
Volume's mount); :meth:`ServiceShell.open` then serves voices from a
:class:`~tts_router.serving.DirectoryVoiceStore` there, which commits the Volume after each
upload (other containers see it) and reloads it before declaring a voice missing (this one
sees theirs). ``modal`` is imported only when the variable is set.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from .settings import ENV_PREFIX, VOICES_DIR_VARIABLE

__all__ = ["attach_volume_voices", "volume_voices_from_env"]

_logger = logging.getLogger("tts_router.modal_kit")


def attach_volume_voices(app: Any, directory: str, volume: Any) -> Any:
    """Serve ``app``'s voices from ``directory`` in ``volume`` (a ``modal.Volume``), keeping
    its memory store as the cache in front; return the store."""
    from ..serving import DirectoryVoiceStore, MemoryVoiceStore, use_voice_store

    cache = app.state.voices if isinstance(app.state.voices, MemoryVoiceStore) else None
    store = DirectoryVoiceStore(
        directory,
        limits=app.state.handlers.limits,
        cache=cache,
        after_write=volume.commit,
        before_miss=volume.reload,
    )
    use_voice_store(app, store)
    return store


def volume_voices_from_env(app: Any) -> Any:
    """In a Modal container whose image sets the voice directory: attach it. Anywhere else
    (a local import of the app, a test) do nothing and return None."""
    directory = os.environ.get(VOICES_DIR_VARIABLE)
    volume_name = os.environ.get(ENV_PREFIX + "MODAL_VOLUME")
    if not directory or not volume_name:
        return None
    import modal

    if modal.is_local():  # the variables are the image's, but this is not its container
        return None

    _logger.info("voices are kept in the Volume %s", volume_name)
    return attach_volume_voices(app, directory, modal.Volume.from_name(volume_name))
