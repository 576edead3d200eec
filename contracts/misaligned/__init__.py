"""A deliberately misaligned Bloodbank and Candystore, as test fixtures: HTTP proxies in front of the
reference services that inject the defects of SPEC §6. The contract suite must fail against them, naming
each defect.

Candystore proxy: ``event_id`` renamed ``id``, ``source`` flattened to ``"app@host"``, ``correlation_ids`` cut
to one id, ``agent_context`` and ``version`` dropped, ``has_more`` omitted, 404 and 422 answered with 500.
Bloodbank proxy: a malformed event with a payload is answered 202 "published" without publishing, any other
400/422 is answered with 500.

Run one with ``python -m contracts.misaligned candystore --upstream URL --port N``.
"""

from contracts.misaligned.proxy import bloodbank_app, candystore_app, flatten_event

__all__ = ["bloodbank_app", "candystore_app", "flatten_event"]
