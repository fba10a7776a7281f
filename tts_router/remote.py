"""A Provider backed by services speaking the protocol: what every GPU provider shares.

A GPU provider (Qwen, Echo, a third party's) is configuration around this class: its id, its
static capabilities, and where its clone and design services live. Requests go through one
:class:`~tts_router.http.ServiceClient` per service, so retries, redirects, the circuit breaker
and output validation behave the same for every provider.

Streams are native: ``stream_clone``/``stream_design`` send the whole text in one streamed
request (the protocol's framed answer); the service splits it, generates its first chunk
alone and the rest in batches, and sends each chunk as it is done. Retries happen before the
first chunk only; after it a failure is a ``StreamInterruptedError``.

Such a provider's settings model subclasses :class:`RemoteSettings` (the request size, and
Modal's proxy auth, sent by :class:`ModalProxyAuth`).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Self, get_args

import httpx
from pydantic import SecretStr
from pydantic import ValidationError as PydanticValidationError

from .audio import DecodedAudio
from .client_options import CircuitOptions, RetryOptions, Timeouts
from .errors import (
    ProviderError,
    TTSRouterError,
    UnsupportedOperationError,
    ValidationError,
)
from .http import AudioResponse, ServiceClient, StreamedChunk
from .models import CloneMode, CloneRequest, DesignRequest, Operation
from .protocol import CloneBody, DesignBody, GenerationOptions
from .provider import Capabilities, Health, Provider, Speech, StreamPiece, _Plan
from .provider_settings import ProviderSettings, setting

if TYPE_CHECKING:
    from .serving.inprocess import InProcessService

__all__ = [
    "MODAL_AUTH_FIX",
    "REQUEST_CHARS",
    "ModalProxyAuth",
    "RemoteProvider",
    "RemoteSettings",
    "ServiceConfig",
]

logger = logging.getLogger("tts_router.remote")

_MODES = frozenset(get_args(CloneMode))


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """How to reach the services: base URLs per operation, auth, and client policy."""

    clone_url: str | None = None
    design_url: str | None = None
    auth: httpx.Auth | None = None
    retry: RetryOptions = field(default_factory=RetryOptions)
    timeouts: Timeouts = field(default_factory=Timeouts)
    circuit: CircuitOptions = field(default_factory=CircuitOptions)
    max_parallel: int = 4
    """Parts of one long text sent at once (fan-out: a scaling service runs them side by
    side); 1 sends them one after another."""
    max_request_chars: int | None = None
    """Text sent in one request; the service chunks it and generates the chunks as one batch,
    its best path. Longer text goes as parts of this size, ``max_parallel`` at once. None:
    the provider's own ``max_text_chars``. Once :meth:`RemoteProvider.health` has read a
    service's declared limit (``HealthInfo.max_text_chars``), parts never exceed it."""

    def client(
        self, url: str, provider: str, transport: httpx.AsyncBaseTransport | None = None
    ) -> ServiceClient:
        """A client for the service at ``url`` with this configuration's auth and policy."""
        return ServiceClient(
            url,
            provider=provider,
            auth=self.auth,
            retry=self.retry,
            timeouts=self.timeouts,
            circuit=self.circuit,
            transport=transport,
            refused_fix=MODAL_AUTH_FIX,
        )


# What one request to a GPU service carries by default: a whole text of ordinary length, which
# the service chunks and generates as one batch (its best path); longer text goes in parts.
REQUEST_CHARS = 5_000


@dataclass(unsafe_hash=True)  # hashed by value, yet mutable like any httpx.Auth
class ModalProxyAuth(httpx.Auth):
    """Modal's proxy auth: the ``Modal-Key`` and ``Modal-Secret`` headers on every request.

    Masked in every repr; equal to another with the same key and secret.
    """

    key: str
    secret: str

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        """Add the two headers."""
        request.headers["Modal-Key"] = self.key
        request.headers["Modal-Secret"] = self.secret
        yield request

    def __repr__(self) -> str:
        return "ModalProxyAuth(key='***', secret='***')"


class RemoteSettings(ProviderSettings):
    """What a provider over protocol services reads besides its URLs (its settings model
    subclasses this): Modal's proxy auth, and how much text one request carries."""

    modal_key: SecretStr | None = setting(env="MODAL_KEY")
    """Modal proxy-auth token id (sent as ``Modal-Key``)."""
    modal_secret: SecretStr | None = setting(env="MODAL_SECRET")
    """Modal proxy-auth token secret (sent as ``Modal-Secret``)."""
    max_request_chars: int = setting(REQUEST_CHARS, gt=0)
    """Text sent in one request (see :attr:`ServiceConfig.max_request_chars`)."""

    @property
    def auth(self) -> ModalProxyAuth | None:
        """The proxy auth, when both the key and the secret are set."""
        if not (self.modal_key and self.modal_secret):
            return None
        return ModalProxyAuth(
            self.modal_key.get_secret_value(), self.modal_secret.get_secret_value()
        )

    def service_config(self, clone_url: str | None, design_url: str | None = None) -> ServiceConfig:
        """The client configuration for these services, with this auth and request size."""
        return ServiceConfig(
            clone_url=clone_url,
            design_url=design_url,
            auth=self.auth,
            max_request_chars=self.max_request_chars,
        )


MODAL_AUTH_FIX = "check MODAL_KEY and MODAL_SECRET (Modal's proxy auth)"
"""What a refused request tells the host to check, for services behind Modal's proxy auth."""


class RemoteProvider(Provider):
    """Clone and design through protocol services. Subclasses set ``id``, capabilities and
    (a :class:`RemoteSettings` subclass) ``settings_model``.

    ``static_capabilities`` are used until :meth:`health` has asked the service for its
    languages; operations are limited to the services that are configured.
    """

    static_capabilities: Capabilities
    settings_model: ClassVar[type[ProviderSettings]] = RemoteSettings
    configure_hint: str = "set the service URL"
    service: InProcessService | None = None
    """The service app it talks to in this process (:meth:`over_app`), else None."""

    @classmethod
    def over_app(
        cls,
        build: Callable[..., Any],
        *args: Any,
        design: bool = False,
        max_request_chars: int = REQUEST_CHARS,
        **service_options: Any,
    ) -> Self:
        """This provider over the service app ``build(*args, **service_options)`` makes (a
        provider's own ``create_service_app``), run in this process: the same batching, voice
        store and validation as a GPU service, through the same client; it clones, and designs
        when ``design``. Nothing is built here: the app is built and its models load on the
        first request; :meth:`aclose` stops it."""
        from .serving.inprocess import IN_PROCESS_URL, InProcessService

        # Requests that meet the model still loading are answered 503 + Retry-After and sent
        # again: a second here, not the 5 s a shared service asks of its many clients.
        service_options.setdefault("retry_after_s", 1.0)
        service = InProcessService(lambda: build(*args, **service_options))
        config = ServiceConfig(
            clone_url=IN_PROCESS_URL,
            design_url=IN_PROCESS_URL if design else None,
            max_request_chars=max_request_chars,
        )
        provider = cls(config, transport=service)
        provider.service = service
        return provider

    def __init__(
        self, config: ServiceConfig, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.config = config
        self.max_parallel_chunks = max(1, config.max_parallel)
        self._clients: dict[Operation, ServiceClient] = {}
        urls: dict[Operation, str | None] = {"clone": config.clone_url, "design": config.design_url}
        for operation, url in urls.items():
            if url:
                self._clients[operation] = config.client(url, self.id, transport)
        self._languages: tuple[str, ...] | None = None
        self._service_chars: int | None = None  # the smallest limit a service declared

    def __repr__(self) -> str:
        return f"{type(self).__name__}(operations={sorted(self._clients)})"

    @property
    def capabilities(self) -> Capabilities:
        """Static capabilities, narrowed to configured services and the languages they report."""
        static = self.static_capabilities
        # Unconfigured, it shows what it could do once configured (select() skips it anyway).
        operations = (frozenset(self._clients) & static.operations) or static.operations
        return static.model_copy(
            update={
                "operations": operations,
                "languages": self._languages or static.languages,
                "clone_modes": static.clone_modes if "clone" in operations else (),
                "max_text_chars": min(
                    self.config.max_request_chars or static.max_text_chars,
                    self._service_chars or sys.maxsize,
                ),
            }
        )

    def missing_configuration(self) -> str | None:
        """What to set when no service URL is configured."""
        return None if self._clients else self.configure_hint

    @property
    def available(self) -> bool:
        """False while any configured service's circuit is open."""
        return all(client.available for client in self._clients.values())

    def client(self, operation: Operation) -> ServiceClient:
        """The client for an operation's service."""
        try:
            return self._clients[operation]
        except KeyError:
            raise UnsupportedOperationError(
                f"no {operation} service is configured for {self.id!r}", provider=self.id
            ) from None

    async def health(self) -> Health:
        """Ask every service for its health and languages (and remember the languages)."""
        details = []
        ok = True
        for operation, client in self._clients.items():
            try:
                info = await client.health()
                languages = await client.languages()
            except TTSRouterError as exc:
                ok = False
                details.append(f"{operation}: {exc.code}: {exc.message}")
                continue
            ok = ok and info.loaded
            if info.max_text_chars:  # never send a part longer than a service takes
                self._service_chars = min(
                    self._service_chars or info.max_text_chars, info.max_text_chars
                )
            # Keep only what both the service and the router's language table know.
            known = set(self.static_capabilities.languages)
            self._languages = tuple(lang for lang in languages.languages if lang in known)
            state = "" if info.status == "ok" else f", {info.status}"  # loading or failed
            details.append(f"{operation}: {info.model} on {info.device} ({info.dtype}){state}")
        return Health(ok=ok, detail="; ".join(details))

    async def aclose(self) -> None:
        """Close every client's connections."""
        for client in self._clients.values():
            await client.aclose()

    async def _clone(
        self, text: str, language: str, request: CloneRequest, reference: DecodedAudio
    ) -> Speech:
        body = self._clone_body(text, language, request)
        response = await self.client("clone").clone(
            body, reference=request.reference.audio, request_id=request.request_id
        )
        return self._speech(response, response.mode)

    async def _design(self, text: str, language: str, request: DesignRequest) -> Speech:
        body = self._design_body(text, language, request)
        response = await self.client("design").design(body, request_id=request.request_id)
        return self._speech(response, "design")

    async def _stream_chunks(self, text: str, plan: _Plan) -> AsyncGenerator[StreamPiece, None]:
        """One streamed request for the whole text; the service chunks it (see the module)."""
        request = plan.request
        chunks: AsyncIterator[StreamedChunk]
        if isinstance(request, CloneRequest):
            body = self._clone_body(text, plan.language, request)
            chunks = self.client("clone").stream_clone(
                body, reference=request.reference.audio, request_id=request.request_id
            )
        else:
            design = self._design_body(text, plan.language, request)
            chunks = self.client("design").stream_design(design, request_id=request.request_id)
        try:
            async for chunk in chunks:
                mode = chunk.mode if isinstance(request, CloneRequest) else "design"
                yield StreamPiece(
                    self._speech(chunk, mode), chunk.text_span, chunk.last, chunk.total
                )
        finally:
            await chunks.aclose()  # type: ignore[attr-defined]

    def _clone_body(self, text: str, language: str, request: CloneRequest) -> CloneBody:
        ref = request.reference
        return CloneBody(
            text=text,
            language=language,
            voice_id=ref.content_id,
            transcript=ref.transcript if ref.has_transcript else None,
            seed=request.seed,
            options=self._options(request.options),
        )

    def _design_body(self, text: str, language: str, request: DesignRequest) -> DesignBody:
        return DesignBody(
            text=text,
            instruct=request.instruct,
            language=language,
            seed=request.seed,
            options=self._options(request.options),
        )

    def _options(self, options: dict[str, Any]) -> GenerationOptions:
        try:
            return GenerationOptions.model_validate(options)
        except PydanticValidationError as exc:
            fields = ", ".join(".".join(map(str, e["loc"])) for e in exc.errors())
            raise ValidationError(
                f"invalid generation options ({fields}); allowed: "
                + ", ".join(GenerationOptions.model_fields),
                code="invalid_options",
                provider=self.id,
            ) from None

    def _speech(self, answer: AudioResponse | StreamedChunk, mode: str) -> Speech:
        """The service's answer (its audio checked on arrival) as a Speech, once its clone mode
        is one we know."""
        if mode not in _MODES:
            raise ProviderError(
                "the service reported an unknown clone mode",
                code="invalid_response",
                provider=self.id,
            )
        return Speech(
            model=answer.model,
            mode=mode,  # type: ignore[arg-type]
            wav=answer.wav if isinstance(answer, AudioResponse) else None,
            warnings=list(answer.warnings),
            timings=answer.timings,
            checked=answer.audio,
        )
