"""The service's OpenAPI document, as served at /api/v1/openapi.json, written to
docs/openapi.json (a test fails when that file is stale):

    python -m injector.service.openapi [PATH]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def document() -> dict:
    from injector.service.app import build_app

    return build_app().openapi()


def text() -> str:
    return json.dumps(document(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else DOC
    target.write_text(text())
    print(target)
