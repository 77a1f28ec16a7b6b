"""The published JSON schemas (docs/schemas/), for checking what the commands really print."""

from __future__ import annotations

import json
from functools import cache

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from tests.conftest import REPO

SCHEMAS = REPO / "docs" / "schemas"


@cache
def _registry() -> Registry:
    resources = []
    for path in sorted(SCHEMAS.glob("*.json")):
        schema = json.loads(path.read_text())
        resources.append((schema["$id"], Resource.from_contents(schema)))
    return Registry().with_resources(resources)


def validate(document: object, name: str) -> None:
    """Raise jsonschema's ValidationError unless `document` is valid by docs/schemas/NAME.json."""
    schema = json.loads((SCHEMAS / f"{name}.json").read_text())
    Draft202012Validator.check_schema(schema)
    Draft202012Validator(schema, registry=_registry(),
                         format_checker=Draft202012Validator.FORMAT_CHECKER).validate(document)
