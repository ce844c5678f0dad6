"""``RuntimeSettings``: what a runtime host needs to run attempts (browser, isolation,
timeouts, tracing, evidence, artifacts). ``batch.settings.BatchSettings`` extends it
with CSV ingestion, retries and data-entry safety.

Precedence, highest first: the explicit ``config`` mapping (API and CLI flags),
``BATCH_*`` environment variables, a ``.env`` file in the working directory, then
the defaults below. Invalid values raise ``ConfigurationError`` naming the setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, Literal, Self, TypeVar
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from runtime.errors import ConfigurationError

__all__ = [
    "Isolation",
    "RuntimeSettings",
    "TraceMode",
    "build_settings",
    "load_settings",
    "redact_url",
]

TraceMode = Literal["off", "on-failure", "retries", "always"]
Isolation = Literal["context", "recycled", "page"]

S = TypeVar("S", bound="RuntimeSettings")


class _OwnKeysOnly(PydanticBaseSettingsSource):
    """A ``.env`` source reduced to this class's fields: the same ``.env`` holds the
    batch's options too, which a runtime host alone must not refuse."""

    def __init__(self, settings_cls: type[BaseSettings], inner: PydanticBaseSettingsSource):
        super().__init__(settings_cls)
        self._inner = inner

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:  # noqa: ARG002
        return None, field_name, False  # unused: __call__ reads everything at once

    def __call__(self) -> dict[str, Any]:
        known = self.settings_cls.model_fields
        return {key: value for key, value in self._inner().items() if key in known}


class RuntimeSettings(BaseSettings):
    """The runtime's options. Environment variables use the ``BATCH_`` prefix."""

    model_config = SettingsConfigDict(
        env_prefix="BATCH_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        frozen=True,
        validate_default=True,
    )
    strict_dotenv: ClassVar[bool] = False
    """Whether an unknown key in ``.env`` is an error: only a class that knows every
    option (``BatchSettings``) can tell a typo from another side's option."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    """Logging threshold for the ``batchwright`` logger."""
    artifacts_dir: Path = Path("artifacts")
    """Root for the store, reports and per-job artifacts (``<artifacts_dir>/<batch_id>/``)."""

    # --- browser -------------------------------------------------------------
    browser_path: Path | None = None
    """Chromium executable. Unset: Playwright's own browser, then a system Chromium."""
    headless: bool = True
    """Run without a window. ``--headed`` to watch (prefers full Chromium)."""
    isolation: Isolation = "context"
    """How jobs share browser state: ``context`` (a fresh context per row, safest),
    ``recycled`` (pooled contexts wiped between rows: cookies, storage, permissions),
    ``page`` (one page per worker, nothing wiped: read-only flows). docs/performance.md."""
    recycle_context_every: int = Field(50, ge=1)
    """With ``isolation=recycled`` or ``page``: a pooled context serves this many rows,
    then is replaced by a fresh one."""
    base_url: str | None = None
    """Overrides the flow's ``base_url`` (``--base-url``)."""
    job_timeout_s: float = Field(60.0, gt=0)
    """Watchdog per attempt: a job running longer is ended and its context closed."""
    step_timeout_s: float = Field(15.0, gt=0)
    """Playwright timeout for each step (navigation, clicks, expectations)."""
    browser_recycle_jobs: int = Field(500, ge=0)
    """Relaunch the browser after this many jobs to bound its memory (0: never)."""
    browser_recycle_memory_mb: int = Field(2048, ge=0)
    """Relaunch the browser when this engine's Chromium processes use more memory than
    this (resident set, checked every 20 jobs; 0: never)."""

    # --- artifacts -----------------------------------------------------------
    trace: TraceMode = "retries"
    """Playwright tracing: ``retries`` traces attempts after the first (failures that
    persist get a trace, passing rows pay nothing); ``on-failure`` traces every
    attempt and keeps failed ones (~40 % slower); ``always`` keeps all; ``off``."""
    screenshot_on_failure: bool = True
    """Full-page screenshot of a failed attempt."""
    html_on_failure: bool = True
    """Page HTML of a failed attempt."""
    max_artifacts_mb: float = Field(0, ge=0)
    """Evidence a batch may write (its ``jobs/`` folder), in MB; past it, attempts write
    no more screenshots, traces, HTML or console logs and say so (0: no cap)."""
    secrets: frozenset[str] = frozenset()
    """Columns whose values are masked as ``***`` in logs, messages and reports, on top of
    the flow's ``secrets:`` list (``--secret COLUMN``). The runtime reads it to decide
    whether an attempt may be traced."""
    trace_secrets: bool = False
    """Allow Playwright traces for flows with secrets (traces record typed values)."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Unless ``strict_dotenv``, read only this class's own keys from ``.env``."""
        dotenv = dotenv_settings
        if not cls.strict_dotenv:
            dotenv = _OwnKeysOnly(settings_cls, dotenv_settings)
        return init_settings, env_settings, dotenv, file_secret_settings

    @field_validator("artifacts_dir", mode="after")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("browser_path", mode="after")
    @classmethod
    def _existing_browser(cls, value: Path | None) -> Path | None:
        if value is not None and not value.expanduser().is_file():
            raise ValueError(f"no executable file at {value}")
        return value.expanduser() if value is not None else None

    @field_validator("base_url", mode="after")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://", "file://")):
            raise ValueError("must start with http://, https:// or file://")
        return value.rstrip("/") if value else value

    def with_overrides(self, **overrides: Any) -> Self:
        """A copy with some values changed (None: unchanged), validated like the original."""
        given = {name: value for name, value in overrides.items() if value is not None}
        if not given:
            return self
        return build_settings(type(self), {**self.model_dump(), **given}, read_env=False)


def build_settings(cls: type[S], values: Mapping[str, Any], *, read_env: bool = True) -> S:
    """``cls`` from ``values`` (over the environment and ``.env`` with ``read_env``);
    validation errors become one ``ConfigurationError`` naming each setting."""
    try:
        if read_env:
            return cls(**values)
        return cls.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            name = ".".join(str(p) for p in error["loc"]) or "settings"
            if error["type"] == "extra_forbidden":
                problems.append(f"unknown setting {name!r} (not an option of {cls.__name__})")
                continue
            given = error.get("input")
            if name == "broker_url" and isinstance(given, str):
                given = redact_url(given)
            problems.append(f"setting {name!r} = {given!r}: {error['msg']}")
        raise ConfigurationError("; ".join(problems)) from None


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***``: broker URLs are logged and shown."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def load_settings(
    config: Mapping[str, Any] | None = None, *, read_env: bool = True
) -> RuntimeSettings:
    """Runtime settings from ``config`` (None values: not given) over the environment."""
    values = {k: v for k, v in (config or {}).items() if v is not None}
    return build_settings(RuntimeSettings, values, read_env=read_env)
