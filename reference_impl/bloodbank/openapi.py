"""The committed OpenAPI document of Bloodbank (``contracts/openapi/bloodbank.openapi.json``) and its export.

The file is generated, never edited by hand: ``python -m reference_impl.bloodbank --export-openapi``.
A drift test compares it with :func:`render_openapi`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from reference_impl._contract import openapi_file
from reference_impl.bloodbank.config import BloodbankConfig

OPENAPI_PATH = openapi_file("bloodbank.openapi.json")
EXPORT_COMMAND = "python -m reference_impl.bloodbank --export-openapi"


def openapi_document() -> dict[str, Any]:
    """The OpenAPI document of an app with the default configuration (independent of the environment)."""
    from reference_impl.bloodbank.app import create_app

    return create_app(BloodbankConfig(source_host="bloodbank")).openapi()


def render_openapi() -> str:
    """The document as committed: sorted keys, indent 2, trailing newline."""
    return json.dumps(openapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def export_openapi(path: Path | str = OPENAPI_PATH) -> Path:
    """Write the document to ``path`` (default: the contract file) and return the path."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_openapi(), encoding="utf-8")
    return target
