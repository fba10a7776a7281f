"""What the gateway is configured with: keys (hashed), limits, where voices live."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic import ValidationError as PydanticValidationError

from ..errors import ConfigurationError
from ..settings import Settings

__all__ = ["KEYS_VARIABLE", "GatewayConfig", "hash_key"]

KEYS_VARIABLE = "TTS_ROUTER_GATEWAY_KEYS"
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def hash_key(key: str) -> str:
    """The form a key is stored in: ``sha256:<hex>`` (what ``[gateway] keys`` holds)."""
    return "sha256:" + hashlib.sha256(key.strip().encode()).hexdigest()


class GatewayConfig(BaseModel):
    """``[gateway]`` in the TOML file, plus ``TTS_ROUTER_GATEWAY_KEYS`` and the CLI's flags."""

    model_config = ConfigDict(frozen=True, extra="forbid", hide_input_in_errors=True)

    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=0, le=65535)
    data_dir: Path = Path("tts-router-data")
    keys: tuple[str, ...] = Field(
        default=(), repr=False, description="Hashes of the API keys (sha256:<hex>, hash_key)."
    )
    no_auth: bool = False
    max_in_flight_per_key: int = Field(default=4, ge=1)
    max_body_bytes: int = Field(default=32 * 1024 * 1024, ge=1024)

    @field_validator("keys")
    @classmethod
    def _hashed(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for stored in value:
            if not stored.startswith("sha256:") or len(stored) != 7 + 64:
                raise ValueError("keys hold hashes (sha256:<64 hex>); make one with hash-key")
        return value

    @classmethod
    def load(cls, settings: Settings, **overrides: object) -> GatewayConfig:
        """From ``[gateway]``, keys from the environment added (hashed), then ``overrides``."""
        data: dict[str, object] = {**settings.gateway}
        plain = settings.env.get(KEYS_VARIABLE, "")
        env_keys = [hash_key(k) for k in plain.split(",") if k.strip()]
        data["keys"] = (*data.get("keys", ()), *env_keys)  # type: ignore[misc]
        data.update({k: v for k, v in overrides.items() if v is not None})
        try:
            config = cls.model_validate(data)
        except PydanticValidationError as exc:
            fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
            raise ConfigurationError(f"invalid [gateway] settings: {fields}") from None
        config.require_safe_exposure()
        return config

    def require_safe_exposure(self) -> None:
        """Refuse to serve without keys anywhere but on loopback with ``no_auth``."""
        if self.keys or (self.no_auth and self.host in _LOOPBACK):
            return
        if self.no_auth:
            raise ConfigurationError(
                f"--no-auth is allowed only on loopback (127.0.0.1, ::1), not {self.host}; "
                f"set {KEYS_VARIABLE} or [gateway] keys"
            )
        raise ConfigurationError(
            f"the gateway needs API keys: set {KEYS_VARIABLE}=KEY1,KEY2 or [gateway] keys "
            "(hashes from `tts-router hash-key`), or pass --no-auth on 127.0.0.1"
        )

    def key_id(self, presented: str) -> str | None:
        """The stored hash ``presented`` matches (compared in constant time), else None."""
        candidate = hash_key(presented)
        for stored in self.keys:
            if hmac.compare_digest(candidate, stored):
                return stored
        return None
