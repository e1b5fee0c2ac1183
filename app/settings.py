"""The app's settings: environment and an optional `.env`, with Probot-compatible names."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class SettingsError(ValueError):
    """A missing or invalid setting: one line naming the variable and what is wrong (never its value)."""


class Settings(BaseSettings):
    """Every knob the service reads, grouped by concern. Secrets are `SecretStr`: their repr is masked."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # an empty variable means unset, as in shells and .env files
        extra="ignore",
        case_sensitive=False,
        frozen=True,
    )

    # GitHub App identity (absent: `serve` offers the registration page instead of processing webhooks).
    app_id: int | None = Field(default=None, gt=0)
    private_key: SecretStr | None = None
    private_key_path: Path | None = None
    webhook_secret: SecretStr | None = None
    webhook_path: str = "/api/github/webhooks"
    github_api_url: str = "https://api.github.com"
    github_url: str = "https://github.com"  # web host, for the manifest registration flow (GHES)
    github_api_version: str = "2022-11-28"
    github_token: SecretStr | None = (
        None  # `snapshot --token` default: a personal token instead of the App
    )
    reject_hook_target_mismatch: bool = False
    # GitHub asks for >= 1 s between mutating requests; the demo and tests against the double use 0.
    github_write_spacing_seconds: float = Field(default=1.0, ge=0)
    # First wait before retrying a 5xx, reset or timeout; doubled per retry, jittered.
    github_retry_base_seconds: float = Field(default=1.0, ge=0)
    # A rate-limit reply without retry-after or reset waits at least this long (GitHub: >= 1 minute).
    github_rate_limit_min_seconds: float = Field(default=60.0, ge=0)

    # HTTP server.
    host: str = "0.0.0.0"  # noqa: S104 - a service in a container listens on every interface
    port: int = Field(default=3000, ge=0, le=65535)
    public_url: str | None = None  # where GitHub reaches us; used by the registration page
    # `serve` processes sharing the port; more than one needs PostgreSQL.
    web_concurrency: int = Field(default=1, ge=1, le=64)

    # Storage and work.
    database_url: str = "sqlite:///./self-improve.db"
    worker_concurrency: int = Field(default=4, ge=1, le=64)
    job_max_attempts: int = Field(default=5, ge=1)
    job_lease_seconds: float = Field(default=300.0, gt=0)
    job_retry_base_seconds: float = Field(default=5.0, ge=0)
    poll_interval_seconds: float = Field(default=0.5, gt=0)
    recovery_interval_seconds: float = Field(default=3600.0, ge=0)  # 0 turns the sweep off
    # Finished deliveries and ended jobs older than this are deleted; 0 keeps them forever.
    delivery_retention_days: float = Field(default=14.0, ge=0)

    # Run history API (off unless a token is set).
    api_token: SecretStr | None = None

    # LLM engine (OpenAI-compatible chat completions).
    llm_base_url: str | None = None
    llm_api_key: SecretStr | None = None
    llm_model: str = "gpt-4o-mini"
    llm_timeout_seconds: float = Field(default=60.0, gt=0)

    # Logging.
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["json", "pretty"] = "json"

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("webhook_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with /")
        return value

    @field_validator("github_api_url", "github_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/")

    @field_validator("database_url")
    @classmethod
    def _database(cls, value: str) -> str:
        if not value.startswith(("sqlite:///", "postgresql://", "postgres://")):
            raise ValueError("must be sqlite:///PATH or postgresql://…")
        return value

    @field_validator("delivery_retention_days")
    @classmethod
    def _retention(cls, value: float) -> float:
        if 0 < value < 3:
            raise ValueError(
                "must be 0 (keep forever) or at least 3: GitHub can redeliver for 3 days, and the"
                " missed-delivery sweep must still see what was stored"
            )
        return value

    @model_validator(mode="after")
    def _key_source(self) -> Settings:
        if self.private_key is not None and self.private_key_path is not None:
            raise ValueError("PRIVATE_KEY and PRIVATE_KEY_PATH: set one, not both")
        return self

    @property
    def uses_postgres(self) -> bool:
        return self.database_url.startswith(("postgresql://", "postgres://"))

    @property
    def registered(self) -> bool:
        """True when the App's identity is configured, so webhooks can be processed."""
        return self.app_id is not None and (
            self.private_key is not None or self.private_key_path is not None
        )

    def private_key_pem(self) -> bytes:
        """The App's private key, from PRIVATE_KEY (newlines may be written as \\n) or the file."""
        if self.private_key is not None:
            return self.private_key.get_secret_value().replace("\\n", "\n").encode()
        if self.private_key_path is not None:
            try:
                return self.private_key_path.read_bytes()
            except OSError as exc:
                raise SettingsError(
                    f"PRIVATE_KEY_PATH: cannot read {self.private_key_path}: {exc.strerror}"
                ) from None
        raise SettingsError("PRIVATE_KEY: not set (nor PRIVATE_KEY_PATH)")


def load_settings(env_file: str | Path | None = ".env", **overrides: Any) -> Settings:
    """Read the settings; a problem becomes a `SettingsError` that names the variable, not the value.

    `overrides` win over the environment (tests and the demo build settings this way)."""
    try:
        return Settings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "settings"
        msg = err["msg"].removeprefix("Value error, ")
        raise SettingsError(f"{name}: {msg}") from None
