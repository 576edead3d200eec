"""The local contract matrix and ``harness can-i-deploy``: the Pact Broker's question, answered from a file.

``reports/pact-matrix.json`` holds three lists, appended to by every ``harness verify`` that verified a pact
(and by ``harness record-deployment``)::

    {"pacts":         [{consumer, consumer_version, provider, pact_hash, published_at}],
     "verifications": [{consumer, provider, provider_version, pact_hash, success, failed, verified_at}],
     "deployments":   [{pacticipant, version, environment, deployed_at}]}

Semantics are the Pact Broker's: a verification attaches to the pact's *content* (its hash), not to the
consumer version that published it, so a consumer version that publishes an already verified pact is
verified too. ``can_i_deploy(name, version, to=env)`` checks both roles of the pacticipant:

- as a consumer: every pact that version published must be verified successfully by the provider version
  deployed in ``env`` (without ``env``: by the provider's latest verification of that pact);
- as a provider: the pact of every consumer version deployed in ``env`` (without ``env``: each consumer's
  latest pact) must be verified successfully by this version.

A version the matrix has never heard of is a "no", naming how to record it.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

MATRIX = "pact-matrix.json"


class MatrixError(Exception):
    """Bad input to the matrix (the message says what to do)."""


def pact_hash(path: Path) -> str:
    """The content hash of a pact: consumer, provider and interactions, canonical JSON (metadata such as the
    writing library's version is left out, so the same contract written twice hashes the same)."""
    try:
        pact = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise MatrixError(f"cannot read pact {path}: {exc}") from exc
    content = {k: pact.get(k) for k in ("consumer", "provider", "interactions")}
    return hashlib.sha256(json.dumps(content, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def git_version(root: Path) -> str | None:
    """The commit of the checkout at ``root`` (12 hex digits, ``+dirty`` with uncommitted changes to tracked
    files); ``None`` outside a git checkout."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short=12", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}+dirty" if dirty else sha or None


@dataclass
class Decision:
    """The answer of can-i-deploy: ``ok``, the rows it relied on, and why not."""

    ok: bool
    rows: list[dict[str, Any]] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _when(epoch: float | None) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC") if epoch else "-"


@dataclass
class Matrix:
    """The matrix file, loaded; :meth:`save` writes it back atomically."""

    path: Path
    pacts: list[dict[str, Any]] = field(default_factory=list)
    verifications: list[dict[str, Any]] = field(default_factory=list)
    deployments: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Matrix:
        path = Path(path)
        if not path.exists():
            return cls(path)
        try:
            data = json.loads(path.read_text())
        except json.JSONDecodeError as exc:
            raise MatrixError(
                f"{path} is not valid JSON ({exc}): restore it or delete it and re-verify"
            ) from exc
        return cls(path, data.get("pacts", []), data.get("verifications", []), data.get("deployments", []))

    def save(self) -> Path:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        data = {"pacts": self.pacts, "verifications": self.verifications, "deployments": self.deployments}
        tmp = self.path.with_name(self.path.name + f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
        tmp.replace(self.path)
        return self.path

    # ------------------------------------------------------------------------------------------ recording

    def publish(self, consumer: str, version: str, provider: str, content_hash: str, when: float) -> None:
        """The pact ``consumer@version`` → ``provider`` has this content (a re-publication replaces it)."""
        self.pacts = [
            p
            for p in self.pacts
            if (p["consumer"], p["consumer_version"], p["provider"]) != (consumer, version, provider)
        ]
        self.pacts.append(
            {
                "consumer": consumer,
                "consumer_version": version,
                "provider": provider,
                "pact_hash": content_hash,
                "published_at": when,
            }
        )

    def verify(
        self,
        provider: str,
        version: str,
        consumer: str,
        content_hash: str,
        success: bool,
        when: float,
        failed: list[str] | None = None,
    ) -> None:
        """``provider@version`` verified the pact with this content: success, or which interactions failed."""
        self.verifications.append(
            {
                "consumer": consumer,
                "provider": provider,
                "provider_version": version,
                "pact_hash": content_hash,
                "success": bool(success),
                "failed": list(failed or []),
                "verified_at": when,
            }
        )

    def known(self, pacticipant: str, version: str) -> bool:
        return any(
            p["consumer"] == pacticipant and p["consumer_version"] == version for p in self.pacts
        ) or any(
            v["provider"] == pacticipant and v["provider_version"] == version for v in self.verifications
        )

    def pacticipants(self) -> set[str]:
        return {p["consumer"] for p in self.pacts} | {p["provider"] for p in self.pacts}

    def deploy(self, pacticipant: str, version: str, environment: str, when: float) -> None:
        """``pacticipant@version`` is now what runs in ``environment`` (it replaces the one before)."""
        if not environment.strip():
            raise MatrixError("--environment is empty: name the environment (e.g. staging, production)")
        if not self.known(pacticipant, version):
            raise MatrixError(self._unknown(pacticipant, version))
        self.deployments.append(
            {"pacticipant": pacticipant, "version": version, "environment": environment, "deployed_at": when}
        )

    # ------------------------------------------------------------------------------------------ querying

    def deployed(self, pacticipant: str, environment: str) -> str | None:
        rows = [
            d for d in self.deployments if d["pacticipant"] == pacticipant and d["environment"] == environment
        ]
        return max(rows, key=lambda d: d["deployed_at"])["version"] if rows else None

    def _latest_verification(
        self, consumer: str, provider: str, content_hash: str, provider_version: str | None
    ) -> dict[str, Any] | None:
        rows = [
            v
            for v in self.verifications
            if v["consumer"] == consumer
            and v["provider"] == provider
            and v["pact_hash"] == content_hash
            and (provider_version is None or v["provider_version"] == provider_version)
        ]
        return max(rows, key=lambda v: v["verified_at"]) if rows else None

    def _unknown(self, pacticipant: str, version: str) -> str:
        if pacticipant not in self.pacticipants():
            names = ", ".join(sorted(self.pacticipants())) or "none yet"
            return (
                f"{pacticipant} is not a pacticipant of this matrix (known: {names}); "
                "check the name, or run harness verify to record its pacts"
            )
        versions = sorted(
            {p["consumer_version"] for p in self.pacts if p["consumer"] == pacticipant}
            | {v["provider_version"] for v in self.verifications if v["provider"] == pacticipant}
        )
        return (
            f"{pacticipant} version {version} is unknown to the matrix "
            f"(known versions: {', '.join(versions)}): "
            f"run harness verify --consumer-version/--provider-version {version} to record it"
        )

    def can_i_deploy(self, pacticipant: str, version: str, to: str | None = None) -> Decision:
        if not self.known(pacticipant, version):
            return Decision(False, reasons=[self._unknown(pacticipant, version)])
        decision = Decision(True)

        def use(consumer: str, cv: str | None, provider: str, pv: str | None, pact: str, found: Any) -> None:
            row = {
                "consumer": consumer,
                "consumer_version": cv,
                "provider": provider,
                "provider_version": found["provider_version"] if found else pv,
                "pact_hash": pact,
                "success": found["success"] if found else None,
                "verified_at": found["verified_at"] if found else None,
                "failed": found["failed"] if found else [],
            }
            decision.rows.append(row)
            who = f"{consumer} {cv} → {provider} {row['provider_version'] or '(any version)'}"
            if found is None:
                decision.reasons.append(f"missing: no verification of the pact {who} (pact {pact[:12]})")
            elif not found["success"]:
                failed = "; ".join(found["failed"][:5]) or "see the verify report"
                decision.reasons.append(f"failed: {who} (pact {pact[:12]}): {failed}")

        # as a consumer: the pacts this version published
        for pact in [
            p for p in self.pacts if p["consumer"] == pacticipant and p["consumer_version"] == version
        ]:
            provider = pact["provider"]
            provider_version = None
            if to is not None:
                provider_version = self.deployed(provider, to)
                if provider_version is None:
                    decision.reasons.append(f"missing: no version of {provider} is deployed to {to}")
                    continue
            found = self._latest_verification(pacticipant, provider, pact["pact_hash"], provider_version)
            use(pacticipant, version, provider, provider_version, pact["pact_hash"], found)

        # as a provider: the pacts of its consumers (deployed in `to`, else each consumer's latest)
        consumers = sorted({p["consumer"] for p in self.pacts if p["provider"] == pacticipant})
        for consumer in consumers:
            pacts = [p for p in self.pacts if p["consumer"] == consumer and p["provider"] == pacticipant]
            if to is not None:
                consumer_version = self.deployed(consumer, to)
                if consumer_version is None:
                    decision.notes.append(
                        f"no version of {consumer} is deployed to {to}: nothing of it to break"
                    )
                    continue
                pacts = [p for p in pacts if p["consumer_version"] == consumer_version]
                if not pacts:
                    decision.notes.append(
                        f"{consumer} {consumer_version} in {to} has no pact with {pacticipant}"
                    )
                    continue
            pact = max(pacts, key=lambda p: p["published_at"])
            found = self._latest_verification(consumer, pacticipant, pact["pact_hash"], version)
            use(consumer, pact["consumer_version"], pacticipant, version, pact["pact_hash"], found)

        decision.ok = not decision.reasons
        return decision


def decision_lines(decision: Decision, pacticipant: str, version: str, to: str | None) -> list[str]:
    """What can-i-deploy prints: the rows it relied on, then the answer and why."""
    lines = []
    if decision.rows:
        lines.append(
            f"  {'consumer':12} {'version':16} {'provider':12} {'version':16} {'pact':12} {'result':8} "
            "verified at"
        )
        for r in decision.rows:
            result = "-" if r["success"] is None else ("success" if r["success"] else "FAILED")
            lines.append(
                f"  {r['consumer']:12} {r['consumer_version'] or '-':16} {r['provider']:12} "
                f"{r['provider_version'] or '-':16} {r['pact_hash'][:12]:12} {result:8} "
                f"{_when(r['verified_at'])}"
            )
    where = f" to {to}" if to else ""
    if decision.ok:
        lines.append(f"can-i-deploy: yes, {pacticipant} {version} can be deployed{where}")
    else:
        lines.append(f"can-i-deploy: no, {pacticipant} {version} cannot be deployed{where}:")
    lines += [f"  - {reason}" for reason in decision.reasons]
    lines += [f"  (note: {note})" for note in decision.notes]
    return lines


def record_verifications(
    contracts: list[dict[str, Any]],
    matrix_path: Path,
    pact_dir: Path,
    *,
    consumer_version: str,
    provider_version: str,
    when: float | None = None,
) -> list[dict[str, Any]]:
    """After a verify: for every consumer/provider pair of the contract matrix that has a pact file
    (``{consumer}-{provider}.json``), record the pact's publication and its verification; the new rows."""
    when = time.time() if when is None else when
    pairs: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in contracts:
        pairs.setdefault((row["consumer"], row["provider"]), []).append(row)
    matrix = Matrix.load(matrix_path)
    recorded = []
    for (consumer, provider), rows in sorted(pairs.items()):
        pact = Path(pact_dir) / f"{consumer}-{provider}.json"
        if not pact.exists():
            continue  # OpenAPI conformance and the reject checks are not pacts
        content = pact_hash(pact)
        matrix.publish(consumer, consumer_version, provider, content, when)
        failed = [r["interaction"] for r in rows if not r["ok"]]
        matrix.verify(provider, provider_version, consumer, content, not failed, when, failed)
        recorded.append(matrix.verifications[-1])
    if recorded:
        matrix.save()
    return recorded


def record_after_verify(
    contracts: list[dict[str, Any]],
    reports: Path,
    *,
    consumer_version: str | None = None,
    provider_version: str | None = None,
    external_provider: bool = False,
) -> list[str]:
    """What ``harness verify`` does with its contract rows: record them in ``reports/pact-matrix.json``
    under the given versions (default: the harness checkout's git commit); the lines it prints."""
    from harness._layout import suites_root
    from harness.contracts import PACT_DIR

    commit = None if consumer_version and provider_version else git_version(suites_root())
    consumer_version = consumer_version or commit
    provider_version = provider_version or commit
    if not consumer_version or not provider_version:
        return [
            "harness verify: contract results not recorded for can-i-deploy: not a git checkout, give "
            "--consumer-version and --provider-version"
        ]
    rows = record_verifications(
        contracts,
        Path(reports) / MATRIX,
        PACT_DIR,
        consumer_version=consumer_version,
        provider_version=provider_version,
    )
    if not rows:
        return []
    lines = [
        f"harness verify: recorded for can-i-deploy ({Path(reports) / MATRIX}): "
        + ", ".join(
            f"{r['provider']} {r['provider_version']} {'verified' if r['success'] else 'FAILED'} "
            f"{r['consumer']} {consumer_version}"
            for r in rows
        )
    ]
    if external_provider and commit and provider_version == commit:
        lines.append(
            "  note: the provider version defaulted to the harness commit; give --provider-version for the "
            "version of the services under test"
        )
    return lines
