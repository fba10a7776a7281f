"""The voice library: references and their metadata in SQLite, the audio in files beside it.

Survives restarts (everything is on disk under ``data_dir``); safe for one gateway process
(a lock serialises writes; SQLite's own locking covers readers).
"""

from __future__ import annotations

import hashlib
import sqlite3
import threading
import time
import uuid
from dataclasses import astuple, dataclass
from pathlib import Path

from ..audio import decode_audio
from ..errors import ValidationError
from ..languages import normalize_language

__all__ = ["Voice", "VoiceLibrary"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS voices (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    transcript TEXT,
    language TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    seconds REAL NOT NULL,
    source TEXT NOT NULL,
    created REAL NOT NULL
)
"""


@dataclass(frozen=True, slots=True)
class Voice:
    """A stored reference: its id (``voice_<hex>``), name and what is known of the recording."""

    id: str
    name: str
    transcript: str | None
    language: str
    sha256: str
    seconds: float
    source: str  # "upload" or "design"
    created: float

    def __repr__(self) -> str:  # the transcript is the user's text
        return f"Voice(id={self.id!r}, name={self.name!r}, seconds={self.seconds:.2f})"

    def public(self) -> dict[str, object]:
        """The JSON a client sees (``object: "voice"``, as OpenAI's custom voices)."""
        return {
            "id": self.id,
            "object": "voice",
            "name": self.name,
            "language": self.language,
            "has_transcript": bool(self.transcript),
            "seconds": round(self.seconds, 3),
            "source": self.source,
            "created_at": int(self.created),
        }


class VoiceLibrary:
    """Voices under ``data_dir``: ``voices.sqlite3`` and ``voices/<id>.audio``."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self._audio_dir = data_dir / "voices"
        self._audio_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(data_dir / "voices.sqlite3", check_same_thread=False)
        self._db.execute(_SCHEMA)
        self._db.commit()
        self._lock = threading.Lock()

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    def add(
        self,
        audio: bytes,
        *,
        name: str,
        transcript: str | None = None,
        language: str = "auto",
        source: str = "upload",
    ) -> Voice:
        """Validate the reference (the one audio validator) and store it; returns the voice."""
        decoded = decode_audio(audio)
        name = name.strip()
        if not name or len(name) > 200:
            raise ValidationError(
                "a voice needs a name of 1-200 characters", code="invalid_request"
            )
        voice = Voice(
            id="voice_" + uuid.uuid4().hex,
            name=name,
            transcript=transcript.strip() if transcript and transcript.strip() else None,
            language=normalize_language(language),
            sha256=hashlib.sha256(audio).hexdigest(),
            seconds=decoded.duration,
            source=source,
            created=time.time(),
        )
        path = self._path(voice.id)
        with self._lock:
            path.write_bytes(audio)
            # The columns are the fields, in order (as ``Voice(*row)`` reads them back).
            self._db.execute("INSERT INTO voices VALUES (?, ?, ?, ?, ?, ?, ?, ?)", astuple(voice))
            self._db.commit()
        return voice

    def get(self, voice_id: str) -> Voice:
        """The voice, or ``voice_not_found``."""
        row = self._db.execute("SELECT * FROM voices WHERE id = ?", (voice_id,)).fetchone()
        if row is None:
            raise ValidationError(
                "no voice with this id in the library; list them with GET /v1/voices",
                code="voice_not_found",
            )
        return Voice(*row)

    def audio(self, voice: Voice) -> bytes:
        """The reference recording as uploaded."""
        return self._path(voice.id).read_bytes()

    def list(self) -> list[Voice]:
        """Every voice, oldest first."""
        rows = self._db.execute("SELECT * FROM voices ORDER BY created").fetchall()
        return [Voice(*row) for row in rows]

    def delete(self, voice_id: str) -> None:
        """Remove a voice and its recording (``voice_not_found`` if there is none)."""
        voice = self.get(voice_id)
        with self._lock:
            self._db.execute("DELETE FROM voices WHERE id = ?", (voice.id,))
            self._db.commit()
            self._path(voice.id).unlink(missing_ok=True)

    def _path(self, voice_id: str) -> Path:
        if not voice_id.startswith("voice_") or not voice_id[6:].isalnum():
            raise ValidationError("voice ids look like voice_<hex>", code="voice_not_found")
        return self._audio_dir / f"{voice_id}.audio"
