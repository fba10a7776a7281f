"""Typed provider settings: the pydantic model in which a provider declares its configuration.

A provider's settings are one model, a subclass of :class:`ProviderSettings` (its
``Provider.settings_model``). Each field is a key of its ``[providers.<id>]`` TOML section (the
field's name) and, where :func:`setting` names one, an environment variable: variables configure
the default instance and win over the key when set and not empty. Values are typed once, here:
``"300"`` from the environment and ``300`` from TOML are the same ``int``; a service URL is
checked (:data:`ServiceURL`). The router validates each section with :meth:`ProviderSettings.load`
and hands the model to ``Provider.from_settings``. A key the model does not declare is an error
naming the key, the provider and the closest key; an invalid value is an error naming its
variable or key, never the value. Fields whose names mark a secret (key, secret, token,
password, credential) are masked in every repr; declare them ``SecretStr``.

This is the providers' vocabulary: it knows nothing of the router's ``Settings``.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping
from typing import Annotated, Any, Self

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationInfo
from pydantic import ValidationError as PydanticValidationError
from pydantic_core import ErrorDetails

from .errors import ConfigurationError
from .urls import mask_url, validate_service_url

__all__ = ["ProviderSettings", "ServiceURL", "is_secret_key", "mask_value", "setting"]

_SECRET_KEY = re.compile(r"(key|secret|token|password|credential)", re.IGNORECASE)


def is_secret_key(name: str) -> bool:
    """Whether a setting's name marks its value as a secret."""
    return bool(_SECRET_KEY.search(name))


def mask_value(key: str | None, value: Any) -> Any:
    """``value`` as it may be shown: ``'***'`` under a secret-looking ``key``, and the
    credentials inside a URL masked."""
    if key and is_secret_key(key) and value not in (None, ""):
        return "***"
    if isinstance(value, str) and "://" in value:
        return mask_url(value)
    return value


def setting(default: Any = None, *, env: str | None = None, **field: Any) -> Any:
    """One settings field: its ``default``, the environment variable that sets it (``env``:
    the default instance only, winning over the TOML key) and any other :func:`pydantic.Field`
    argument (``gt``...). Its description is the docstring below it, or ``description=``."""
    return Field(default, json_schema_extra={"env": env} if env else None, **field)


def _service_url(value: str, info: ValidationInfo) -> str:
    origins = info.context.get("origins", {}) if isinstance(info.context, dict) else {}
    name = info.field_name or "url"
    return validate_service_url(value, setting=origins.get(name, name))


ServiceURL = Annotated[str, AfterValidator(_service_url)]
"""A service's base URL: http(s), a host, no credentials, query or fragment (see :mod:`.urls`);
a bad one is a ``ConfigurationError`` naming its variable or key, its secrets masked."""


class ProviderSettings(BaseModel):
    """The settings every provider reads (``timeout``); a provider with more subclasses it.

    Build one with :meth:`load` (the router does); fields are keys of ``[providers.<id>]``,
    :func:`setting` gives one an environment variable.
    """

    model_config = ConfigDict(
        frozen=True, extra="forbid", hide_input_in_errors=True, use_attribute_docstrings=True
    )

    timeout: float | None = setting(gt=0)
    """Seconds one request may take in this provider before a fallback-eligible
    ``provider_timeout``; unset: no limit of the base class."""

    @classmethod
    def variables(cls) -> dict[str, str]:
        """Each field that has an environment variable, and that variable."""
        found: dict[str, str] = {}
        for name, field in cls.model_fields.items():
            extra = field.json_schema_extra
            if isinstance(extra, dict) and isinstance(extra.get("env"), str):
                found[name] = str(extra["env"])
        return found

    @classmethod
    def unknown_keys(
        cls, section: Mapping[str, Any], *, name: str, source: str | None = None
    ) -> list[tuple[str, str]]:
        """Each key of ``section`` (``[providers.<name>]``) this model does not declare, as
        (the problem, its fix): the closest key it does declare, and all of them."""
        where = f"[providers.{name}]" + (f" in {source}" if source else "")
        known = sorted(cls.model_fields)
        reads = ", ".join(known)
        problems = []
        for key in (k for k in section if k not in cls.model_fields):
            guess = difflib.get_close_matches(key, known, n=1)
            hint = f"did you mean {guess[0]!r}? " if guess else ""
            problems.append((f"{where} has unknown key {key!r}", f"{hint}{name} reads: {reads}"))
        return problems

    @classmethod
    def load(
        cls,
        section: Mapping[str, Any] | None = None,
        environ: Mapping[str, str] | None = None,
        *,
        name: str,
        source: str | None = None,
    ) -> Self:
        """``[providers.<name>]`` (``section``, from the TOML file ``source``) with the
        variables in ``environ`` over it (none for a named instance), validated; an empty
        string, in either, leaves the field unset.

        Raises :class:`ConfigurationError` for an unknown key (with the closest known one) or
        an invalid value (naming its variable or key, never the value).
        """
        unknown = cls.unknown_keys(section or {}, name=name, source=source)
        if unknown:
            raise ConfigurationError("; ".join(f"{what}: {fix}" for what, fix in unknown))
        # An empty value is no value, in the file as in the environment.
        values = {key: value for key, value in (section or {}).items() if value != ""}
        in_file = f" in {source}" if source else ""
        origins = {key: f"[providers.{name}] {key}{in_file}" for key in cls.model_fields}
        for key, variable in cls.variables().items():
            if environ and environ.get(variable):
                values[key], origins[key] = environ[variable], variable
        try:
            return cls.model_validate(values, context={"origins": origins})
        except PydanticValidationError as exc:
            problems = "; ".join(_problem(err, origins) for err in exc.errors())
        raise ConfigurationError(problems)  # outside the except block: nothing chained

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for key, value in super().__repr_args__():
            yield key, mask_value(key, value)


def _problem(err: ErrorDetails, origins: Mapping[str, str]) -> str:
    # Where the value came from and what is wrong with it; never the value itself.
    field = str(err["loc"][0]) if err["loc"] else ""
    where = origins.get(field, ".".join(map(str, err["loc"])) or "settings")
    message = err["msg"].removeprefix("Value error, ")
    if message.startswith(("Input should", "Value should")):
        return f"{where} {message.partition(' ')[2]}"
    return f"{where}: {message}"
