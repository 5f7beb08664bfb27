import pytest
from ds_common.settings import ServiceSettings, service_config
from pydantic import SecretStr, ValidationError


class ExampleSettings(ServiceSettings):
    model_config = service_config("EXAMPLE")
    service_name: str = "example"
    signing_secret: SecretStr = SecretStr("dev-only-secret")


def test_service_prefix_beats_shared_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DS_KAFKA_BOOTSTRAP", "shared:9092")
    monkeypatch.setenv("DS_REDIS_URL", "redis://shared:6379/0")
    monkeypatch.setenv("DS_EXAMPLE_REDIS_URL", "redis://mine:6379/0")
    settings = ExampleSettings()
    assert settings.kafka_bootstrap == "shared:9092"
    assert settings.redis_url == "redis://mine:6379/0"


def test_dev_mode_runs_with_development_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DS_EXAMPLE_ENVIRONMENT", raising=False)
    assert ExampleSettings().signing_secret.get_secret_value() == "dev-only-secret"


def test_production_refuses_to_start_with_defaulted_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DS_EXAMPLE_ENVIRONMENT", "production")
    with pytest.raises(ValidationError, match="signing_secret"):
        ExampleSettings()


def test_production_starts_when_secrets_are_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DS_EXAMPLE_ENVIRONMENT", "production")
    monkeypatch.setenv("DS_EXAMPLE_SIGNING_SECRET", "a-real-secret-from-the-vault")
    assert ExampleSettings().environment == "production"


def test_production_refuses_an_empty_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DS_EXAMPLE_ENVIRONMENT", "production")
    monkeypatch.setenv("DS_EXAMPLE_SIGNING_SECRET", "")
    with pytest.raises(ValidationError):
        ExampleSettings()


def test_unknown_environment_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DS_EXAMPLE_ENVIRONMENT", "staging-ish")
    with pytest.raises(ValidationError):
        ExampleSettings()
