"""The event envelope shared by every producer and consumer.

`key` is the aggregate id and the Kafka key, so one aggregate's events stay in one partition, in
order; `sequence` is the aggregate's version, which consumers use to apply each change once and
in order. Consumers ignore fields they do not know (changes within a version are additive).
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, ClassVar

import orjson
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from ds_common.logging import request_id_var
from ds_common.tracing import current_traceparent


class EventData(BaseModel):
    """Base of every contract's payload. Set `event_type` and `event_version` in subclasses."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    event_type: ClassVar[str]
    event_version: ClassVar[int] = 1
    event_producer: ClassVar[str]


class Envelope(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    type: str
    version: int = 1
    occurred_at: AwareDatetime
    producer: str
    key: str
    sequence: int = Field(ge=0)
    correlation_id: str | None = None
    causation_id: str | None = None
    traceparent: str | None = None
    data: dict[str, Any]

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.model_dump(mode="json"))

    @classmethod
    def from_bytes(cls, raw: bytes) -> Envelope:
        return cls.model_validate_json(raw)

    def to_document(self) -> dict[str, Any]:
        """The form embedded in a Mongo document (native datetime)."""
        return self.model_dump()

    def kafka_headers(self) -> list[tuple[str, bytes]]:
        headers = [("type", self.type), ("version", str(self.version)), ("id", self.id),
                   ("producer", self.producer)]
        if self.correlation_id:
            headers.append(("correlation_id", self.correlation_id))
        if self.causation_id:
            headers.append(("causation_id", self.causation_id))
        # no traceparent: the publish span's context goes in (ds_common.tracing)
        return [(k, v.encode()) for k, v in headers]


def new_event(
    data: EventData,
    *,
    key: str,
    sequence: int,
    occurred_at: datetime | None = None,
    causation: Envelope | None = None,
) -> Envelope:
    """A new envelope; the producer is the contract's; the correlation id comes from the causing
    event or the request, the trace context from the current span (or the causing event)."""
    return Envelope(
        type=data.event_type,
        version=data.event_version,
        occurred_at=occurred_at or datetime.now(UTC),
        producer=data.event_producer,
        key=key,
        sequence=sequence,
        correlation_id=(causation.correlation_id if causation else None) or request_id_var.get(),
        causation_id=causation.id if causation else None,
        traceparent=current_traceparent() or (causation.traceparent if causation else None),
        data=data.model_dump(mode="json"),
    )
