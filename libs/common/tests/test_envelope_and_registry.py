from datetime import UTC, datetime

import jsonschema
import pytest
from ds_common.events.contracts import PlanChanged, UserRegistered
from ds_common.events.envelope import Envelope, new_event
from ds_common.events.registry import REGISTRY
from ds_common.logging import request_id_var

REQUIRED_TOPICS = {"user.registered", "user.updated", "session.revoked", "plan.changed",
                   "payment.completed", "video.published", "video.updated", "video.removed",
                   "video.started", "practice.recorded"}


def registered_user(**overrides: object) -> UserRegistered:
    fields = {"user_id": "u1", "email": "a@b.c", "username": "A",
              "created_at": datetime(2026, 1, 1, tzinfo=UTC), **overrides}
    return UserRegistered(**fields)  # type: ignore[arg-type]


def test_new_event_fills_the_envelope() -> None:
    token = request_id_var.set("req-1")
    try:
        event = new_event(registered_user(), key="u1", sequence=1)
    finally:
        request_id_var.reset(token)
    assert event.type == "user.registered" and event.version == 1
    assert event.key == "u1" and event.sequence == 1 and event.producer == "auth"
    assert event.correlation_id == "req-1" and event.causation_id is None
    assert event.occurred_at.tzinfo is not None
    assert event.data["email"] == "a@b.c"


def test_caused_event_inherits_correlation_and_names_its_cause() -> None:
    cause = new_event(registered_user(), key="u1", sequence=1)
    effect = new_event(registered_user(), key="u1", sequence=2, causation=cause)
    assert effect.causation_id == cause.id
    assert effect.correlation_id == cause.correlation_id


def test_envelope_round_trips_through_bytes_and_headers() -> None:
    event = new_event(registered_user(), key="u1", sequence=3)
    again = Envelope.from_bytes(event.to_bytes())
    assert again == event
    headers = dict(event.kafka_headers())
    assert headers["type"] == b"user.registered" and headers["id"] == event.id.encode()
    assert headers["version"] == b"1"


def test_consumers_ignore_unknown_fields() -> None:
    event = new_event(registered_user(), key="u1", sequence=1)
    raw = event.model_dump(mode="json")
    raw["brand_new_field"] = 1
    raw["data"]["another_new_field"] = "x"
    parsed = Envelope.model_validate(raw)
    assert REGISTRY.parse(parsed) == registered_user()


def test_envelope_rejects_a_naive_timestamp_and_negative_sequence() -> None:
    good = new_event(registered_user(), key="u1", sequence=1).model_dump()
    with pytest.raises(ValueError):
        Envelope.model_validate({**good, "occurred_at": datetime(2026, 1, 1)})
    with pytest.raises(ValueError):
        Envelope.model_validate({**good, "sequence": -1})


def test_registry_knows_every_required_topic() -> None:
    assert {c.topic for c in REGISTRY} >= REQUIRED_TOPICS
    assert REGISTRY.get("plan.changed").model is PlanChanged
    with pytest.raises(KeyError):
        REGISTRY.get("no.such.event")


def test_json_schemas_validate_real_payloads() -> None:
    schemas = REGISTRY.json_schemas()
    event = new_event(registered_user(), key="u1", sequence=1)
    jsonschema.validate(event.model_dump(mode="json"), schemas["Envelope"])
    jsonschema.validate(event.data, schemas["user.registered.v1"])
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"user_id": "u1"}, schemas["user.registered.v1"])


def test_asyncapi_document_lists_every_topic() -> None:
    doc = REGISTRY.asyncapi()
    assert doc["asyncapi"].startswith("3.")
    assert set(doc["channels"]) == {c.topic for c in REGISTRY}
    for name, message in doc["components"]["messages"].items():
        assert message["payload"]["allOf"][0] == {"$ref": "#/components/schemas/Envelope"}, name
