"""Read a Holyfields schema folder: the envelope plus one payload schema per event type, and their hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from holyfields._registry import SCHEMA_DIR, load_schema_file

ENVELOPE_FILE = "core/event-envelope.v1.schema.json"
SCHEMA_SUFFIX = ".schema.json"

__all__ = ["ENVELOPE_FILE", "SCHEMA_DIR", "SCHEMA_SUFFIX", "SchemaSet", "load_schema_file", "load_schema_set"]


@dataclass(frozen=True)
class SchemaSet:
    """The schemas the generators read, with the files they came from.

    ``files`` maps each input file (relative to ``root``, POSIX separators) to its bytes; ``sha256`` hashes
    them all, so two folders with the same content give the same hash wherever they live.
    """

    root: Path
    envelope: dict[str, Any]
    payloads: dict[str, dict[str, Any]]
    files: dict[str, bytes] = field(repr=False)

    @property
    def event_types(self) -> tuple[str, ...]:
        """Every event type, sorted."""
        return tuple(self.payloads)

    @property
    def sha256(self) -> str:
        """Content hash of the input files (path and bytes of each, in path order)."""
        digest = hashlib.sha256()
        for name in sorted(self.files):
            content = self.files[name]
            digest.update(name.encode() + b"\0" + str(len(content)).encode() + b"\0" + content)
        return digest.hexdigest()


def event_type_of(relative: str) -> str:
    """``fireflies/transcript.ready.v1.schema.json`` -> ``fireflies.transcript.ready.v1``."""
    domain, name = relative.split("/", 1)
    return f"{domain}.{name[: -len(SCHEMA_SUFFIX)]}"


def load_schema_set(root: str | Path = SCHEMA_DIR) -> SchemaSet:
    """Load ``core/event-envelope.v1.schema.json`` and each ``{domain}/{entity}.{action}.v{N}`` schema."""
    base = Path(root)
    envelope_path = base / ENVELOPE_FILE
    if not envelope_path.is_file():
        raise ValueError(f"no envelope schema at {envelope_path}: is {base} a contracts/schemas folder?")
    files = {ENVELOPE_FILE: envelope_path.read_bytes()}
    payloads: dict[str, dict[str, Any]] = {}
    for path in sorted(base.glob(f"*/*{SCHEMA_SUFFIX}")):
        if path.parent.name == "core":
            continue
        relative = path.relative_to(base).as_posix()
        files[relative] = path.read_bytes()
        payloads[event_type_of(relative)] = load_schema_file(path)
    if not payloads:
        raise ValueError(
            f"no event type schemas under {base} ({{domain}}/{{entity}}.{{action}}.v{{N}}.schema.json)"
        )
    ordered = {name: payloads[name] for name in sorted(payloads)}
    return SchemaSet(root=base, envelope=load_schema_file(envelope_path), payloads=ordered, files=files)
