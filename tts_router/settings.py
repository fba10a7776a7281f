"""Configuration: environment variables over an optional TOML file, validated once.

Variables (all optional):

- ``TTS_PROVIDER``: ``auto`` (default), or a provider id such as ``espeak``, ``qwen``, ``echo``
  (case-insensitive: ids are stored lowercase, here, in ``[[rules]]`` and ``[providers.<id>]``).
- ``TTS_ROUTER_CONFIG``: path of a TOML file (see README, "Configuration").
- ``TTS_ROUTER_PLUGINS``: comma-separated allow-list of plugin names (read by plugins.py).
- ``TTS_ROUTER_ALLOW_APPROXIMATE_FALLBACK``: ``1`` lets fallback land on an approximate provider.

Provider sections (``[providers.<id>]``) are validated, with the provider's environment
variables over them, against that provider's settings model (:meth:`Settings.provider_settings`,
see :mod:`.provider_settings`); any key that looks like a secret (key, secret, token, password)
is masked in every repr and dump, and so are the credentials inside any URL
(``user:password@``, query values).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from functools import partial
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from .errors import ConfigurationError
from .languages import normalize_language
from .models import Loudness, Operation
from .provider_settings import ProviderSettings, is_secret_key, mask_value

__all__ = ["RoutingRule", "Settings", "is_secret_key", "mask_secrets"]

_Model = TypeVar("_Model", bound=ProviderSettings)
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def mask_secrets(values: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``values`` with secret-looking keys replaced by ``'***'`` (recursively)."""
    return {
        key: mask_secrets(value) if isinstance(value, Mapping) else mask_value(key, value)
        for key, value in values.items()
    }


def _provider_id(value: str) -> str:
    # Provider ids are case-insensitive: "QWEN", " qwen " and "qwen" name the same provider.
    return value.strip().lower()


# A language as its canonical code (an unknown one is an UnsupportedLanguageError).
_Language = Annotated[str, AfterValidator(partial(normalize_language, supported=None))]


class RoutingRule(BaseModel):
    """``[[rules]]`` in TOML: send matching requests to ``provider`` when it qualifies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    provider: Annotated[str, AfterValidator(_provider_id)]
    operation: Operation | None = None
    language: _Language | None = None

    def matches(self, operation: Operation, language: str) -> bool:
        """Whether this rule applies to the request."""
        return (self.operation in (None, operation)) and (self.language in (None, language))


class Settings(BaseModel):
    """Validated configuration; build it with :meth:`Settings.load`."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    provider: Annotated[str, AfterValidator(lambda value: _provider_id(value) or "auto")] = Field(
        default="auto", description="TTS_PROVIDER: a provider id or 'auto'."
    )
    rules: tuple[RoutingRule, ...] = ()
    allow_approximate_fallback: bool = False
    max_text_chars: int = Field(
        default=20_000,
        gt=0,
        description="TTS_ROUTER_MAX_TEXT_CHARS: the longest text the router accepts per request.",
    )
    loudness: Loudness | None = Field(
        default=None,
        description="TTS_ROUTER_LOUDNESS: the LUFS every result is normalised to when its "
        "request sets no loudness (-16 for speech; the loudness extra); unset: none.",
    )
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    gateway: dict[str, Any] = Field(
        default_factory=dict,
        description="[gateway]: the `tts-router serve` settings (see tts_router.gateway).",
    )
    env: dict[str, str] = Field(default_factory=dict, repr=False, exclude=True)
    source: str | None = Field(default=None, description="The TOML file read, if any.")

    @field_validator("providers")
    @classmethod
    def _lowercase_sections(cls, value: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        sections: dict[str, dict[str, Any]] = {}
        for name, section in value.items():
            if _provider_id(name) in sections:
                raise ValueError(f"[providers.{name}] repeats a section (ids ignore case)")
            timeout = section.get("timeout")
            if timeout is not None and (
                isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
            ):
                raise ValueError(f"[providers.{name}] timeout must be a positive number of seconds")
            sections[_provider_id(name)] = section
        return sections

    @classmethod
    def load(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read the TOML file named by ``TTS_ROUTER_CONFIG`` (if any), then the environment."""
        env = dict(os.environ if environ is None else environ)
        data: dict[str, Any] = {}
        path = env.get("TTS_ROUTER_CONFIG")
        if path:
            data = _read_toml(Path(path))
            for reserved in _NOT_IN_TOML:
                if reserved in data:
                    raise ConfigurationError(
                        f"invalid configuration in {path}: unknown key {reserved!r}; known: "
                        + ", ".join(_TOML_KEYS)
                    )
            data["source"] = path
        if env.get("TTS_PROVIDER"):
            data["provider"] = env["TTS_PROVIDER"]
        flag = env.get("TTS_ROUTER_ALLOW_APPROXIMATE_FALLBACK")
        if flag is not None:
            if flag.strip().lower() not in _TRUE | _FALSE:
                raise ConfigurationError(
                    "TTS_ROUTER_ALLOW_APPROXIMATE_FALLBACK must be 1 or 0 (true/false)"
                )
            data["allow_approximate_fallback"] = flag.strip().lower() in _TRUE
        if env.get("TTS_ROUTER_MAX_TEXT_CHARS"):
            data["max_text_chars"] = env["TTS_ROUTER_MAX_TEXT_CHARS"]
        if env.get("TTS_ROUTER_LOUDNESS"):
            data["loudness"] = env["TTS_ROUTER_LOUDNESS"]
        data["env"] = env
        try:
            return cls.model_validate(data)
        except PydanticValidationError as exc:
            where = f" in {path}" if path else ""
            raise ConfigurationError(f"invalid configuration{where}: {_describe(exc)}") from None

    def instances(self) -> dict[str, str]:
        """Named instances: ``[providers.<name>]`` sections with ``type = "<provider id>"``,
        as name -> provider id (``[providers.qwen-fast] type = "qwen"``)."""
        return {
            name: _provider_id(str(section["type"]))
            for name, section in self.providers.items()
            if section.get("type")
        }

    def provider_settings(self, name: str, model: type[_Model]) -> _Model:
        """``[providers.<name>]`` validated against a provider's settings ``model``: with the
        environment variables over it for a provider's default instance; a named instance
        takes its own section only (``type`` aside), as variables configure the default one.
        Raises ``ConfigurationError`` naming an unknown key or an invalid value's setting."""
        name = _provider_id(name)
        section = dict(self.providers.get(name, {}))
        named = name in self.instances()
        if named:
            section.pop("type")
        return model.load(section, {} if named else self.env, name=name, source=self.source)

    def describe(self) -> dict[str, Any]:
        """Everything, secrets and credentials in URLs masked: what ``tts-router doctor`` prints."""
        return mask_secrets(self.model_dump(mode="json"))

    def __repr_args__(self) -> list[tuple[str | None, Any]]:
        return list(self.describe().items())


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        why = f"cannot be read: {exc.strerror or type(exc).__name__}"
        if isinstance(exc, FileNotFoundError):
            why = "does not exist"
        raise ConfigurationError(f"TTS_ROUTER_CONFIG names {str(path)!r}, which {why}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigurationError(f"{path} is not valid TOML: {exc}") from None


_NOT_IN_TOML = ("env", "source")  # fields, but not settable from the file
_TOML_KEYS = tuple(name for name in Settings.model_fields if name not in _NOT_IN_TOML)
_RULE_KEYS = tuple(RoutingRule.model_fields)


def _describe(exc: PydanticValidationError) -> str:
    # Locations and messages only: hide_input_in_errors keeps values (maybe secrets) out.
    problems = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "settings"
        if err["type"] == "extra_forbidden":
            known = _RULE_KEYS if err["loc"][0] == "rules" else _TOML_KEYS
            problems.append(f"unknown key {where!r}; known: {', '.join(known)}")
        else:
            message = err["msg"].removeprefix("Value error, ")
            problems.append(f"{where}: {message}")
    return "; ".join(problems)
