"""The registry of event contracts: (type, version) → payload model, the topic, JSON Schema, AsyncAPI."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from ds_common.events.envelope import Envelope, EventData

T = TypeVar("T", bound=type[EventData])


@dataclass(frozen=True)
class Contract:
    event_type: str
    version: int
    model: type[EventData]
    producer: str
    summary: str

    @property
    def topic(self) -> str:
        # One topic per event type, named after it (DESIGN.md). Order across one aggregate's
        # different event types is restored by consumers through the envelope's `sequence`.
        return self.event_type


class Registry:
    def __init__(self) -> None:
        self._contracts: dict[tuple[str, int], Contract] = {}

    def register(self, type_: str, *, producer: str, version: int = 1) -> Callable[[T], T]:
        def decorate(model: T) -> T:
            model.event_type = type_
            model.event_version = version
            model.event_producer = producer
            key = (type_, version)
            if key in self._contracts and self._contracts[key].model is not model:
                raise ValueError(f"contract {type_} v{version} registered twice")
            summary = (model.__doc__ or type_).strip().splitlines()[0]
            self._contracts[key] = Contract(type_, version, model, producer, summary)
            return model
        return decorate

    def __iter__(self) -> Iterator[Contract]:
        return iter(sorted(self._contracts.values(), key=lambda c: (c.event_type, c.version)))

    def get(self, type_: str, version: int = 1) -> Contract:
        try:
            return self._contracts[(type_, version)]
        except KeyError:
            raise KeyError(f"unknown event contract {type_} v{version}") from None

    def parse(self, envelope: Envelope) -> EventData:
        result: EventData = self.get(envelope.type, envelope.version).model.model_validate(envelope.data)
        return result

    def json_schemas(self) -> dict[str, Any]:
        schemas: dict[str, Any] = {"Envelope": Envelope.model_json_schema()}
        for c in self:
            schemas[f"{c.event_type}.v{c.version}"] = c.model.model_json_schema()
        return schemas

    def asyncapi(self) -> dict[str, Any]:
        """An AsyncAPI 3.0 document describing every topic and its payload."""
        channels: dict[str, Any] = {}
        operations: dict[str, Any] = {}
        messages: dict[str, Any] = {}
        for c in self:
            msg_id = f"{c.event_type.replace('.', '_')}_v{c.version}"
            messages[msg_id] = {
                "name": c.event_type, "title": f"{c.event_type} v{c.version}", "summary": c.summary,
                "headers": {"type": "object", "properties": {
                    h: {"type": "string"} for h in ("type", "version", "id", "traceparent")}},
                "payload": {"allOf": [{"$ref": "#/components/schemas/Envelope"},
                                      {"type": "object", "properties": {
                                          "data": c.model.model_json_schema()}}]},
            }
            channels[c.topic] = {"address": c.topic,
                                 "messages": {msg_id: {"$ref": f"#/components/messages/{msg_id}"}}}
            operations[f"publish_{msg_id}"] = {
                "action": "send", "channel": {"$ref": f"#/channels/{c.topic}"},
                "summary": f"published by {c.producer}",
            }
        return {
            "asyncapi": "3.0.0",
            "info": {"title": "Dictation Studio events", "version": "1.0.0",
                     "description": "Kafka topics exchanged by the Dictation Studio services. "
                                    "Messages are JSON envelopes keyed by aggregate id."},
            "defaultContentType": "application/json",
            "channels": channels,
            "operations": operations,
            "components": {"schemas": {"Envelope": Envelope.model_json_schema()},
                           "messages": messages},
        }


REGISTRY = Registry()
contract = REGISTRY.register
