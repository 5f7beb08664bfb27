"""The event backbone: envelope, typed contracts, outbox relay, consumer runner, dead letters."""

from ds_common.events.envelope import Envelope, EventData, new_event
from ds_common.events.registry import REGISTRY, contract

__all__ = ["REGISTRY", "Envelope", "EventData", "contract", "new_event"]
