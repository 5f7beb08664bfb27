"""Service settings: one env prefix per service, shared infrastructure defaults, fail-closed secrets.

A service declares `class Settings(ServiceSettings)` with `model_config = service_config("AUTH")`.
Each field is read from `DS_AUTH_<FIELD>` first and from the shared `DS_<FIELD>` second, so an
operator sets `DS_KAFKA_BOOTSTRAP` once for all services and overrides per service where needed.
In production every secret (a `SecretStr` field) must be set explicitly: no defaults, no start.
"""

from __future__ import annotations

import ipaddress
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

Environment = Literal["dev", "test", "production"]

DEV_CORS_ORIGINS = [
    "http://localhost:5173",
    "http://127.0.0.1:5173",
    "http://localhost:4173",
    "http://127.0.0.1:4173",
]


def service_config(name: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=f"DS_{name.upper()}_", extra="ignore")


class ServiceSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DS_", extra="ignore")

    service_name: str = "service"
    environment: Environment = "dev"
    log_level: str = "INFO"

    mongo_url: str = "mongodb://127.0.0.1:27017/"
    mongo_db: str = "dictation"
    redis_url: str = "redis://127.0.0.1:6379/0"
    kafka_bootstrap: str = "127.0.0.1:9092"

    # Access tokens are signed by auth and verified everywhere from its JWKS.
    jwks_url: str = "http://127.0.0.1:8101/.well-known/jwks.json"
    jwt_issuer: str = "dictation-studio"
    jwt_audience: str = "dictation-studio"

    cors_origins: list[str] = DEV_CORS_ORIGINS

    # The gateway's addresses (or networks): only a connection from one of them has its
    # X-Forwarded-For and X-Forwarded-Proto believed; anyone else is the client itself. Empty
    # (the default) believes nobody: a service reached directly sees its real peer.
    trusted_proxies: list[str] = []

    # Consumers: where a NEW group starts, and a suffix for its name. End-to-end runs use a fresh
    # group starting at "latest", so they do not replay the shared test topics' history.
    consumer_start: Literal["earliest", "latest"] = "earliest"
    consumer_group_suffix: str = ""

    # Traces (ds_common.tracing): an OTLP/HTTP receiver, e.g. http://jaeger:4318; empty: off.
    otel_endpoint: str = ""
    trace_sample_ratio: float = Field(default=0.1, ge=0.0, le=1.0)  # of new traces; callers' decisions are kept

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        shared = EnvSettingsSource(settings_cls, env_prefix="DS_")
        return init_settings, env_settings, shared, dotenv_settings, file_secret_settings

    @field_validator("trusted_proxies")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for entry in value:
            ipaddress.ip_network(entry, strict=False)  # a typo fails the start, not the trust
        return value

    @model_validator(mode="after")
    def _secrets_fail_closed(self) -> ServiceSettings:
        if self.environment != "production":
            return self
        missing = [
            name
            for name, info in type(self).model_fields.items()
            if info.annotation in (SecretStr, SecretStr | None)
            and (name not in self.model_fields_set or not _secret_value(getattr(self, name)))
        ]
        if missing:
            raise ValueError(f"production mode needs these secrets set explicitly: {missing}")
        return self


def _secret_value(value: Any) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else ""
