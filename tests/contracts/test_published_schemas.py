"""The committed event schemas and AsyncAPI document are what the code registers.

Other teams read libs/common/schemas; a contract change without `make schemas` fails here.
"""

import json
from pathlib import Path

import ds_common.events.contracts  # noqa: F401  (registers every contract)
from ds_common.events.registry import REGISTRY

SCHEMAS = Path(__file__).resolve().parents[2] / "libs" / "common" / "schemas"


def test_committed_json_schemas_match_the_registry() -> None:
    for name, schema in REGISTRY.json_schemas().items():
        path = SCHEMAS / f"{name}.schema.json"
        assert path.exists(), f"{path.name} missing: run `make schemas`"
        assert json.loads(path.read_text()) == schema, f"{path.name} is stale: run `make schemas`"


def test_committed_asyncapi_matches_the_registry() -> None:
    committed = json.loads((SCHEMAS / "asyncapi.json").read_text())
    assert committed == REGISTRY.asyncapi(), "asyncapi.json is stale: run `make schemas`"


def test_every_contract_is_additive_friendly() -> None:
    """Consumers must ignore unknown fields, so every payload model allows extra input."""
    for contract in REGISTRY:
        assert contract.model.model_config.get("extra") == "ignore", contract.event_type
