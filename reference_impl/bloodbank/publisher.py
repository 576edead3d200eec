"""Confirmed, signed, retried publishing of event envelopes to RabbitMQ (SPEC §2), usable without HTTP.

>>> async def main():                                             # doctest: +SKIP
...     publisher = Publisher("amqp://guest:guest@127.0.0.1:5672/")
...     await publisher.connect()
...     result = await publisher.publish(make_envelope("github.pr.opened.v1"))
...     await publisher.close()

Semantics (see ``docs/adr/0003-bloodbank-publish-semantics.md``):

- an event counts as published only when the broker confirmed it (publisher confirms);
- ``mandatory=True``: an event no queue is bound for comes back, and :class:`Unroutable` is raised;
- transient failures (connection or channel lost, broker unreachable, nack, confirm timeout) are retried after
  exponential delays; when the retries are used up :class:`RetriesExhausted` says what happened last;
- while the broker blocks publishing (``connection.blocked``: a memory or disk alarm) nothing is retried:
  :class:`BrokerBlocked` is raised once a confirm timed out on the blocked connection, and at once for every
  publish after that until the block lifts (``docs/adr/0032-publishing-while-the-broker-blocks.md``);
- the connection is re-established in the background, so :attr:`Publisher.ready` follows the broker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import aiormq.exceptions
import orjson
from aio_pika.exceptions import CONNECTION_EXCEPTIONS
from aiormq import spec
from opentelemetry import trace
from opentelemetry.context import Context

from holyfields.topology import Topology
from reference_impl.bloodbank.channel import BrokerUnavailable, RobustChannel, describe
from reference_impl.bloodbank.completion import (
    FILLED_HEADER,
    filled_header,
    trace_context_of,
    with_trace_context,
)
from reference_impl.bloodbank.config import RetryConfig
from reference_impl.bloodbank.signing import Signer

log = logging.getLogger("reference_impl.bloodbank.publisher")

Envelope = Mapping[str, Any]
RetryHook = Callable[[str, int, BaseException, float], None]


# --- outcomes ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PublishResult:
    """A publish the broker confirmed."""

    event_id: str
    event_type: str
    routing_key: str
    attempts: int
    seconds: float


class PublishError(Exception):
    """The event was NOT confirmed by the broker. ``reason`` is a short machine-readable code."""

    reason = "publish_failed"

    def __init__(self, message: str, *, event_id: str, routing_key: str, attempts: int) -> None:
        super().__init__(message)
        self.event_id = event_id
        self.routing_key = routing_key
        self.attempts = attempts


class Unroutable(PublishError):
    """The broker returned the event: no queue is bound to the exchange for its routing key."""

    reason = "unroutable"


class RetriesExhausted(PublishError):
    """Every attempt failed with a transient broker error; ``last_error`` is the final one."""

    reason = "broker_unavailable"

    def __init__(self, message: str, *, last_error: BaseException, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.last_error = last_error


class BrokerBlocked(RetriesExhausted):
    """The broker blocks publishing (a resource alarm): not published, and not retried until it lifts."""

    reason = "broker_blocked"


class InvalidEnvelope(PublishError):
    """The envelope does not validate against the contract schemas; ``issues`` lists every violation."""

    reason = "invalid"

    def __init__(self, message: str, *, issues: list[Any], **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.issues = issues


#: failures worth another attempt (order matters: aiormq's PublishError, a return, is an AMQPError too)
TRANSIENT_ERRORS: tuple[type[BaseException], ...] = (
    BrokerUnavailable,
    TimeoutError,
    aiormq.exceptions.DeliveryError,
    *CONNECTION_EXCEPTIONS,
)


# --- the publisher ----------------------------------------------------------------------------------------
class Publisher:
    """Publishes envelopes to the main exchange with confirms, signatures, retries and reconnects.

    Args:
        amqp_url: broker URL (``amqp://user:pass@host:port/vhost``).
        topology: exchange / dead-letter names; declared idempotently on every (re)connect.
        signer: signs every body (``x-signature``, ``x-signature-key-id``) when given.
        retry: retries after the first attempt and their exponential delays.
        confirm_timeout: seconds to wait for the broker's confirm of one attempt.
        connect_timeout: seconds one connection attempt may take.
        reconnect_interval: pause between background reconnect attempts while the broker is away.
        on_retry: called as ``on_retry(event_id, attempt, error, delay)`` before each retry.
        tracer: OpenTelemetry tracer for the publish spans (default: the global one).
    """

    def __init__(
        self,
        amqp_url: str,
        topology: Topology | None = None,
        *,
        signer: Signer | None = None,
        retry: RetryConfig | None = None,
        confirm_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        reconnect_interval: float = 1.0,
        on_retry: RetryHook | None = None,
        tracer: trace.Tracer | None = None,
    ) -> None:
        self.topology = topology or Topology()
        self.signer = signer
        self.retry = retry or RetryConfig()
        self.confirm_timeout = confirm_timeout
        self.on_retry = on_retry
        self.tracer = tracer or trace.get_tracer("reference_impl.bloodbank")
        self.retries_total = 0
        self._delays = self.retry.delays()
        self._robust = RobustChannel(
            amqp_url, self.topology, connect_timeout=connect_timeout, reconnect_interval=reconnect_interval
        )
        self._second = 0
        self._stamp = datetime.fromtimestamp(0, UTC)
        self._block_seen = False  # a confirm timed out on a blocked connection; cleared when it lifts

    # --- lifecycle ------------------------------------------------------------------------------------
    @property
    def ready(self) -> bool:
        """True while connected with the topology declared."""
        return self._robust.ready

    @property
    def last_error(self) -> str | None:
        """Why the last connection attempt failed (None while connected)."""
        return self._robust.last_error

    @last_error.setter
    def last_error(self, text: str | None) -> None:
        self._robust.last_error = text

    async def blocked(self) -> bool:
        """True while the broker blocks this publisher's connection (``connection.blocked``, sent by RabbitMQ
        during a memory or disk alarm); cheap until a publish has run into the block."""
        if not self._block_seen:
            return False
        if not await self._robust.connection_blocked():
            self._block_seen = False
            log.info("the broker no longer blocks publishing")
        return self._block_seen

    async def connect(self, *, wait: bool = True) -> None:
        """Connect and declare the topology, and keep reconnecting in the background from now on.

        With ``wait=False`` the first connection is made in the background too (a service that must start
        while the broker is still down); otherwise a failure raises :class:`BrokerUnavailable`.
        """
        await self._robust.connect(wait=wait)

    async def close(self) -> None:
        """Stop reconnecting and close the connection."""
        await self._robust.close()

    async def __aenter__(self) -> Publisher:
        await self.connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- publishing -----------------------------------------------------------------------------------
    async def publish(
        self,
        envelope: Envelope,
        *,
        validate: bool = True,
        context: Context | None = None,
        filled: Iterable[str] = (),
    ) -> PublishResult:
        """Publish one envelope; return once the broker confirmed it.

        ``context`` is the OpenTelemetry parent of the publish span (default: the current one); the span's
        ids become the envelope's ``trace_context`` when it has none. ``filled`` names the fields the
        caller's completion filled in (:func:`~reference_impl.bloodbank.completion.filled_fields`); they and
        a filled ``trace_context`` go into the ``x-filled-fields`` header.

        Raises:
            InvalidEnvelope: ``validate`` is on and the envelope violates the contract schemas.
            Unroutable: the broker returned the event (no queue bound for its routing key).
            RetriesExhausted: no attempt was confirmed (broker unavailable, nack, confirm timeout).
        """
        event_id, routing_key = _identity(envelope)
        if validate:
            _check_valid(envelope, event_id, routing_key)
        started = time.perf_counter()
        span = self.tracer.start_span(f"publish {routing_key}", context=context, kind=trace.SpanKind.PRODUCER)
        if span.is_recording():  # attributes cost time: only for spans someone receives
            span.set_attributes(self._span_attributes)
            span.set_attribute("messaging.rabbitmq.destination.routing_key", routing_key)
            span.set_attribute("messaging.message.id", event_id)
        try:
            body, properties = self._message(
                with_trace_context(envelope, trace_context_of(span)), event_id, _filled(envelope, filled)
            )
            attempts = await self._publish_with_retry(body, properties, event_id, routing_key)
        except PublishError as exc:
            span.set_status(trace.Status(trace.StatusCode.ERROR, str(exc)))
            raise
        finally:
            span.end()
        return PublishResult(event_id, routing_key, routing_key, attempts, time.perf_counter() - started)

    async def publish_many(
        self,
        envelopes: Sequence[Envelope],
        *,
        validate: bool = True,
        context: Context | None = None,
        filled: Sequence[Iterable[str]] | None = None,
    ) -> list[PublishResult | PublishError]:
        """Publish a batch with pipelined confirms; one outcome per envelope, in order (nothing raised).

        Transient failures are retried for the failed events only; an unroutable or invalid event does not
        hold up the others. One span covers the batch; its ids become each event's ``trace_context``.
        ``filled`` (one entry per envelope) is as for :meth:`publish`.
        """
        if filled is not None and len(filled) != len(envelopes):
            raise ValueError(f"filled has {len(filled)} entries for {len(envelopes)} envelopes")
        count = len(envelopes)
        outcomes: list[PublishResult | PublishError | None] = [None] * count
        messages: dict[int, tuple[bytes, spec.Basic.Properties]] = {}
        keys: dict[int, tuple[str, str]] = {}
        started = time.perf_counter()
        span = self.tracer.start_span("publish batch", context=context, kind=trace.SpanKind.PRODUCER)
        if span.is_recording():
            span.set_attributes(self._span_attributes)
            span.set_attribute("messaging.batch.message_count", count)
        try:
            span_ids = trace_context_of(span)
            for index, envelope in enumerate(envelopes):
                try:
                    event_id, routing_key = _identity(envelope)
                    if validate:
                        _check_valid(envelope, event_id, routing_key)
                except PublishError as exc:
                    outcomes[index] = exc
                    continue
                keys[index] = (event_id, routing_key)
                names = _filled(envelope, filled[index] if filled is not None else ())
                messages[index] = self._message(with_trace_context(envelope, span_ids), event_id, names)
            await self._publish_pipelined(messages, keys, outcomes, started)
            failed = sum(1 for outcome in outcomes if isinstance(outcome, PublishError))
            if failed:
                text = f"{failed} of {count} events not published"
                span.set_status(trace.Status(trace.StatusCode.ERROR, text))
        finally:
            span.end()
        return [outcome for outcome in outcomes if outcome is not None]

    @property
    def _span_attributes(self) -> dict[str, Any]:
        return {"messaging.system": "rabbitmq", "messaging.destination.name": self.topology.exchange}

    def _message(
        self, envelope: Envelope, event_id: str, filled: str = ""
    ) -> tuple[bytes, spec.Basic.Properties]:
        """Body and AMQP properties (SPEC §2): persistent, message_id, JSON, timestamp, signature, and
        ``x-filled-fields`` when Bloodbank filled fields in (ADR 0030)."""
        body = orjson.dumps(envelope)
        headers = self.signer.sign(body) if self.signer is not None else None
        if filled:
            headers = {**(headers or {}), FILLED_HEADER: filled}
        now = int(time.time())
        if now != self._second:
            self._second, self._stamp = now, datetime.fromtimestamp(now, UTC)
        properties = spec.Basic.Properties(
            content_type="application/json",
            delivery_mode=2,
            message_id=event_id,
            timestamp=self._stamp,
            headers=headers,
        )
        return body, properties

    async def _attempt(self, body: bytes, properties: spec.Basic.Properties, routing_key: str) -> None:
        if self._block_seen and await self.blocked():
            raise _Blocked
        channel = self._robust.raw if self.ready else await self._robust.ensure()
        assert channel is not None
        try:
            await channel.basic_publish(
                body,
                exchange=self.topology.exchange,
                routing_key=routing_key,
                properties=properties,
                mandatory=True,
                timeout=self.confirm_timeout,
            )
        except TimeoutError:
            if await self._robust.connection_blocked():
                # Blocked by a resource alarm: a new connection would be blocked too, so keep this one.
                self._note_block()
                raise _Blocked from None
            # No confirm in time: the connection may be half-dead; start afresh on the next attempt.
            if self._robust.raw is channel:
                self._robust.mark_lost()
            raise

    async def _publish_with_retry(
        self, body: bytes, properties: spec.Basic.Properties, event_id: str, routing_key: str
    ) -> int:
        attempt = 0
        while True:
            attempt += 1
            try:
                await self._attempt(body, properties, routing_key)
                return attempt
            except _Blocked:
                raise self._blocked_error(event_id, routing_key, attempt) from None
            except aiormq.exceptions.PublishError as exc:
                raise self._unroutable(exc, event_id, routing_key, attempt) from None
            except TRANSIENT_ERRORS as exc:
                if attempt > len(self._delays):
                    raise self._exhausted(exc, event_id, routing_key, attempt) from exc
                delay = self._delays[attempt - 1]
                self._note_retry(event_id, attempt, exc, delay)
                await asyncio.sleep(delay)

    async def _publish_pipelined(
        self,
        messages: dict[int, tuple[bytes, spec.Basic.Properties]],
        keys: dict[int, tuple[str, str]],
        outcomes: list[PublishResult | PublishError | None],
        started: float,
    ) -> None:
        pending = sorted(messages)
        attempt = 0
        exchange, timeout = self.topology.exchange, self.confirm_timeout
        while pending:
            attempt += 1
            errors: dict[int, BaseException] = {}
            if self._block_seen and await self.blocked():
                self._fail_blocked(pending, keys, outcomes, attempt)
                return
            try:
                channel = await self._robust.ensure()
            except BrokerUnavailable as exc:
                errors = dict.fromkeys(pending, exc)
            else:
                send = channel.basic_publish
                results = await asyncio.gather(
                    *(
                        send(
                            messages[i][0],
                            exchange=exchange,
                            routing_key=keys[i][1],
                            properties=messages[i][1],
                            mandatory=True,
                            timeout=timeout,
                        )
                        for i in pending
                    ),
                    return_exceptions=True,
                )
                seconds = time.perf_counter() - started
                for index, result in zip(pending, results, strict=True):
                    event_id, routing_key = keys[index]
                    if not isinstance(result, BaseException):
                        outcomes[index] = PublishResult(event_id, routing_key, routing_key, attempt, seconds)
                    elif isinstance(result, aiormq.exceptions.PublishError):
                        outcomes[index] = self._unroutable(result, event_id, routing_key, attempt)
                    elif isinstance(result, TRANSIENT_ERRORS):
                        errors[index] = result
                    else:
                        raise result
                if any(isinstance(e, TimeoutError) for e in errors.values()):
                    if await self._robust.connection_blocked():
                        self._note_block()
                        self._fail_blocked(sorted(errors), keys, outcomes, attempt)
                        return
                    if self._robust.raw is channel:
                        self._robust.mark_lost()
            pending = sorted(errors)
            if not pending:
                return
            if attempt > len(self._delays):
                for index in pending:
                    event_id, routing_key = keys[index]
                    outcomes[index] = self._exhausted(errors[index], event_id, routing_key, attempt)
                return
            delay = self._delays[attempt - 1]
            for index in pending:
                self._note_retry(keys[index][0], attempt, errors[index], delay)
            await asyncio.sleep(delay)

    # --- errors ---------------------------------------------------------------------------------------
    def _note_block(self) -> None:
        if not self._block_seen:
            log.warning("the broker blocks publishing (resource alarm): answering 'blocked' until it lifts")
        self._block_seen = True
        self.last_error = "the broker blocks publishing (a memory or disk alarm)"

    def _fail_blocked(
        self,
        pending: list[int],
        keys: dict[int, tuple[str, str]],
        outcomes: list[PublishResult | PublishError | None],
        attempt: int,
    ) -> None:
        for index in pending:
            event_id, routing_key = keys[index]
            outcomes[index] = self._blocked_error(event_id, routing_key, attempt)

    def _blocked_error(self, event_id: str, routing_key: str, attempts: int) -> BrokerBlocked:
        return BrokerBlocked(
            f"event {event_id} was not published: the broker blocks publishing (a memory or disk resource "
            "alarm, RabbitMQ's connection.blocked). Retry after the Retry-After delay with the same event_id "
            "(safe: consumers deduplicate on it); the operator must free broker memory or disk",
            last_error=TimeoutError("connection blocked by the broker"),
            event_id=event_id,
            routing_key=routing_key,
            attempts=attempts,
        )

    def _note_retry(self, event_id: str, attempt: int, error: BaseException, delay: float) -> None:
        self.retries_total += 1
        self.last_error = describe(error)
        log.warning(
            "event %s: attempt %d failed (%s), retrying in %.2f s", event_id, attempt, self.last_error, delay
        )
        if self.on_retry is not None:
            self.on_retry(event_id, attempt, error, delay)

    def _unroutable(self, exc: BaseException, event_id: str, routing_key: str, attempts: int) -> Unroutable:
        return Unroutable(
            f"event {event_id} is unroutable: no queue is bound to exchange {self.topology.exchange!r} for "
            f"routing key {routing_key!r}, so the broker returned it (nothing was stored)",
            event_id=event_id,
            routing_key=routing_key,
            attempts=attempts,
        )

    def _exhausted(
        self, exc: BaseException, event_id: str, routing_key: str, attempts: int
    ) -> RetriesExhausted:
        return RetriesExhausted(
            f"event {event_id} was not confirmed by the broker after {attempts} attempt(s); last error: "
            f"{describe(exc)}. Publishing it again with the same event_id is safe "
            "(consumers deduplicate on it)",
            last_error=exc,
            event_id=event_id,
            routing_key=routing_key,
            attempts=attempts,
        )


# --- helpers ----------------------------------------------------------------------------------------------
class _Blocked(Exception):
    """Internal: an attempt met the broker's block (becomes :class:`BrokerBlocked` with the event's ids)."""


def _identity(envelope: Envelope) -> tuple[str, str]:
    event_id, event_type = envelope.get("event_id"), envelope.get("event_type")
    if not isinstance(event_id, str) or not isinstance(event_type, str) or not event_type:
        raise InvalidEnvelope(
            "an envelope needs string `event_id` and `event_type` (use completion.complete() to fill them)",
            issues=[],
            event_id=str(event_id),
            routing_key=str(event_type),
            attempts=0,
        )
    return event_id, event_type


def _check_valid(envelope: Envelope, event_id: str, routing_key: str) -> None:
    from holyfields import registry

    schemas = registry()
    if schemas.is_valid(envelope):
        return
    issues = schemas.validate(envelope)
    shown = "; ".join(f"{issue.path}: {issue.message}" for issue in issues[:3])
    raise InvalidEnvelope(
        f"event {event_id} is not a valid envelope ({len(issues)} violation(s)): {shown}",
        issues=list(issues),
        event_id=event_id,
        routing_key=routing_key,
        attempts=0,
    )


def _filled(envelope: Envelope, filled: Iterable[str]) -> str:
    """The ``x-filled-fields`` value: ``filled`` plus ``trace_context`` when the publisher fills it."""
    names = list(filled)
    if "trace_context" not in envelope:
        names.append("trace_context")
    return filled_header(names)
