"""What Voice Studio keeps: voices and generations in SQLite (SQLAlchemy 2), audio as files.

The shape is Utter's (``../shared/seeds/next-tasks.md``): a voice has a name, a reference file,
its transcript (optional) and a language (``auto`` by default); a generation records what was
said, in which language, and how the library made it (provider, mode, quality, duration,
warnings, and the router's reasons).
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import ForeignKey, String, Text, create_engine, select
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, sessionmaker

__all__ = ["Base", "Generation", "Store", "Voice"]


def _id() -> str:
    return uuid.uuid4().hex


def _now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    """The tables' base."""

    # Columns the API never shows (where files live on this machine).
    _private: ClassVar[tuple[str, ...]] = ()

    def as_dict(self) -> dict[str, Any]:
        """The row as the API returns it: every public column, times in ISO 8601."""
        row: dict[str, Any] = {}
        for column in self.__table__.columns:
            value = getattr(self, column.name)
            if column.name not in self._private:
                row[column.name] = value.isoformat() if isinstance(value, datetime) else value
        return row


class Voice(Base):
    """A voice to clone from: a reference recording and what is said in it."""

    __tablename__ = "voices"
    _private = ("reference_path",)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_id)
    name: Mapped[str] = mapped_column(String(100))
    reference_path: Mapped[str] = mapped_column(String(500))
    transcript: Mapped[str | None] = mapped_column(Text, default=None)
    language: Mapped[str] = mapped_column(String(16), default="auto")
    created_at: Mapped[datetime] = mapped_column(default=_now)


class Generation(Base):
    """Speech the library made, and how."""

    __tablename__ = "generations"
    _private = ("audio_path",)

    id: Mapped[str] = mapped_column(String(32), primary_key=True, default=_id)
    voice_id: Mapped[str | None] = mapped_column(ForeignKey("voices.id"), default=None)
    text: Mapped[str] = mapped_column(Text)
    instruct: Mapped[str | None] = mapped_column(Text, default=None)
    language: Mapped[str] = mapped_column(String(16))
    language_detected: Mapped[bool] = mapped_column(default=False)
    provider: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    mode: Mapped[str] = mapped_column(String(16))
    quality: Mapped[str] = mapped_column(String(16))
    duration: Mapped[float]
    warnings: Mapped[str] = mapped_column(Text, default="[]")
    reasons: Mapped[str] = mapped_column(Text, default="[]")
    audio_path: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(default=_now)

    def as_dict(self) -> dict[str, Any]:
        """The generation as the API returns it: lists decoded, a URL for its audio."""
        row = super().as_dict()
        row.update(
            duration=round(self.duration, 3),
            warnings=json.loads(self.warnings),
            reasons=json.loads(self.reasons),
            audio_url=f"/api/generations/{self.id}/audio",
        )
        return row


class Store:
    """The database and the audio files, under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.references = root / "references"
        self.generations = root / "generations"
        for folder in (self.references, self.generations):
            folder.mkdir(parents=True, exist_ok=True)
        self.engine = create_engine(f"sqlite:///{root / 'studio.db'}")
        Base.metadata.create_all(self.engine)
        self.session = sessionmaker(self.engine, expire_on_commit=False)

    def add(self, row: Voice | Generation) -> None:
        """Insert one row."""
        with self.session.begin() as session:
            session.add(row)

    def voice(self, voice_id: str) -> Voice | None:
        """One voice, or None."""
        with self.session() as session:
            return session.get(Voice, voice_id)

    def voices(self) -> list[Voice]:
        """Every voice, newest first."""
        with self.session() as session:
            return list(session.scalars(select(Voice).order_by(Voice.created_at.desc())))

    def generation(self, generation_id: str) -> Generation | None:
        """One generation, or None."""
        with self.session() as session:
            return session.get(Generation, generation_id)

    def history(self, limit: int = 50) -> list[Generation]:
        """The latest generations."""
        with self.session() as session:
            query = select(Generation).order_by(Generation.created_at.desc()).limit(limit)
            return list(session.scalars(query))
