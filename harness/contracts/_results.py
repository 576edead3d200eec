"""Pact verification results as rows of the contract matrix: one per interaction, each mismatch with path,
expected and actual value (read from ``Verifier.results``, never parsed from the human-readable output)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

_INDEX = re.compile(r"\[[0-9]+\]")
_MISSING_KEYS = re.compile(r"missing the following keys: (?P<keys>.+)$")
_LIMIT = 200


def _short(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= _LIMIT else text[: _LIMIT - 1] + "…"


@dataclass(frozen=True)
class Mismatch:
    """One difference between what the consumer expects and what the provider did."""

    path: str
    expected: str
    actual: str
    mismatch: str = ""

    @classmethod
    def of(cls, path: str, expected: Any, actual: Any, mismatch: str = "") -> Mismatch:
        return cls(path, _short(expected), _short(actual), " ".join(mismatch.split()))

    def as_dict(self) -> dict[str, str]:
        return asdict(self)

    def line(self) -> str:
        text = f"{self.path}: expected {self.expected}, actual {self.actual}"
        return f"{text} ({self.mismatch})" if self.mismatch else text


@dataclass
class InteractionResult:
    """The verdict on one interaction of a pact (or one contract check), for the contract matrix."""

    interaction: str
    provider: str
    consumer: str
    ok: bool
    mismatches: list[Mismatch] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "interaction": self.interaction,
            "provider": self.provider,
            "consumer": self.consumer,
            "ok": self.ok,
            "mismatches": [m.as_dict() for m in self.mismatches],
        }

    def names(self) -> list[str]:
        """What is wrong, shortly: the last segment of each mismatch path (``event_id``, ``status`` …)."""
        seen: dict[str, None] = {}
        for m in self.mismatches:
            name = m.path.rsplit(".", 1)[-1] if m.path.startswith(("$.", "metadata.", "header.")) else m.path
            seen.setdefault(name, None)
        return list(seen)

    def describe(self) -> str:
        """``consumer -> provider 'interaction': N mismatch(es) (names)`` and one line per mismatch."""
        head = f"{self.consumer} -> {self.provider} '{self.interaction}'"
        if self.ok:
            return f"{head}: ok"
        lines = [f"{head}: {len(self.mismatches)} mismatch(es) ({', '.join(self.names())})"]
        lines += [f"  {m.line()}" for m in self.mismatches]
        return "\n".join(lines)


def _mismatches(raw: Mapping[str, Any]) -> list[Mismatch]:
    """Flatten one entry of ``mismatch.mismatches`` (Body, Metadata, Status, Header … mismatches)."""
    kind = raw.get("type", "")
    text = raw.get("mismatch", "") or raw.get("message", "")
    if kind == "MetadataMismatch":
        path = f"metadata.{raw.get('key', '?')}"
    elif kind == "HeaderMismatch":
        path = f"header.{raw.get('key', '?')}"
    elif kind == "StatusMismatch":
        path = "status"
    elif kind == "QueryMismatch":
        path = f"query.{raw.get('parameter', '?')}"
    else:
        path = raw.get("path") or kind or "?"
    found = _MISSING_KEYS.search(text) if kind == "BodyMismatch" else None
    if found:  # one row per missing key, at the key's own path, so each missing field is named
        base = "" if path == "$" else path
        keys = [k.strip() for k in found.group("keys").split(",") if k.strip()]
        return [Mismatch.of(f"{base or '$'}.{key}", "present", "missing") for key in keys]
    expected = raw.get("expected", "")
    actual = raw.get("actual", "")
    if kind == "StatusMismatch" and not text:
        text = f"expected status {expected} but was {actual}"
    return [Mismatch.of(path, expected, actual, text)]


def collapse(mismatches: Iterable[Mismatch]) -> list[Mismatch]:
    """One mismatch per path pattern: ``$.events[0].x`` and ``$.events[1].x`` become ``$.events[*].x``."""
    out: dict[tuple[str, str], Mismatch] = {}
    for m in mismatches:
        generic = _INDEX.sub("[*]", m.path)
        key = (generic, m.expected)
        if key not in out:
            out[key] = Mismatch(generic, m.expected, m.actual, m.mismatch)
    return list(out.values())


def interaction_results(
    results: Mapping[str, Any],
    *,
    provider: str,
    consumer: str,
    expected: Iterable[str] = (),
    notes: Mapping[str, list[Mismatch]] | None = None,
    extra: Mapping[str, list[Mismatch]] | None = None,
) -> list[InteractionResult]:
    """Rows of the contract matrix from ``Verifier.results``.

    ``expected``: descriptions that must appear (an interaction the verifier never reached is a failure).
    ``notes``: explanations per description (a provider state that could not be realized, a message that
    never reached the broker), put first on the row of an interaction that failed.
    ``extra``: further mismatches per description found outside Pact (a signature that does not verify);
    they fail the row.
    """
    rows: dict[str, InteractionResult] = {}
    for entry in results.get("interactionResults", []) or []:
        description = entry.get("description", "?")
        ok = entry.get("result") in ("OK", "Success")
        mismatches: list[Mismatch] = []
        mismatch = entry.get("mismatch") or {}
        if mismatch.get("type") == "mismatches":
            for raw in mismatch.get("mismatches", []):
                mismatches += _mismatches(raw)
        elif mismatch:
            message = mismatch.get("message", "verification error")
            mismatches.append(Mismatch.of("(interaction)", "a verifiable interaction", message, "error"))
        mismatches = collapse(mismatches)
        rows[description] = InteractionResult(
            description, provider, consumer, ok and not mismatches, mismatches
        )
    for description in expected:
        if description not in rows:
            rows[description] = InteractionResult(
                description,
                provider,
                consumer,
                False,
                [Mismatch.of("(interaction)", "verified", "never verified", "the verifier did not reach it")],
            )
    for description, found in (extra or {}).items():
        row = rows.get(description)
        if row is not None and found:
            row.mismatches += found
            row.ok = False
    for description, why in (notes or {}).items():
        row = rows.get(description)
        if row is not None and not row.ok and why:
            row.mismatches = [*why, *row.mismatches]
    return list(rows.values())


def pact_interactions(path: Path) -> list[dict[str, Any]]:
    """The interactions of a pact file (description, states with params, request/contents …)."""
    return json.loads(Path(path).read_text())["interactions"]


def failure_report(rows: Iterable[InteractionResult]) -> str:
    """The assertion message of a failed verification: each broken interaction with its mismatches."""
    failed = [row for row in rows if not row.ok]
    if not failed:
        return "every interaction verified"
    return "\n".join(row.describe() for row in failed)


def record(run_report: Any, rows: Iterable[InteractionResult]) -> None:
    """Put rows into the run's contract matrix (:meth:`harness.report.RunReport.add_contract`)."""
    for row in rows:
        run_report.add_contract(**row.as_dict())
