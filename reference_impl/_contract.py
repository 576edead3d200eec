"""The committed OpenAPI documents of the reference services.

In a checkout they are ``contracts/openapi/`` (written by ``--export-openapi``); the wheel ships a copy as
package data in ``reference_impl/_openapi/`` (setup.py; docs/adr/0010-packaging.md).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def openapi_file(name: str) -> Path:
    """The path of the OpenAPI document ``name`` (e.g. ``bloodbank.openapi.json``)."""
    package = Path(str(files("reference_impl")))
    packaged = package / "_openapi"
    folder = packaged if packaged.is_dir() else package.parent / "contracts" / "openapi"
    return folder / name
