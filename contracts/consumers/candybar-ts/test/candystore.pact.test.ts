/**
 * Candybar -> Candystore (HTTP), written by Candybar's own TypeScript client: `npm test` writes
 * contracts/pacts/candybar-ts-candystore.json (or $CANDYBAR_PACT_DIR/candybar-ts-candystore.json).
 *
 * The provider states, their params and the fixed ids are those of the Python consumer
 * (contracts/consumers/test_candybar_candystore.py), so the black-box state handlers of
 * harness/contracts/_states.py realize them; values every implementation chooses are matched by type or
 * by the envelope's own patterns.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import path from "node:path";
import { before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { MatchersV3 as m, PactV4 } from "@pact-foundation/pact";

import { CandystoreClient, EventNotFound, InvalidQuery } from "../src/client.ts";
import { EVENT_TYPE, RFC3339, SEMVER, UUID } from "../src/schemas.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const PACT_DIR = process.env.CANDYBAR_PACT_DIR ?? path.resolve(HERE, "../../../pacts");
const CONSUMER = "candybar-ts";
const PROVIDER = "candystore";
const PACT_FILE = path.join(PACT_DIR, `${CONSUMER}-${PROVIDER}.json`);

const SESSION_ID = "candybar-contract-session-3766a9bf";
const SESSION_EVENTS = [
  "fa6ce214-3182-42c3-b9d6-b24fedb330e6",
  "89d3e598-2338-48bb-b934-2384ab3db2b9",
  "79be4e86-0fe8-42f9-8dfd-df8d6cfadbe8",
];
const EVENT_ID = "b02b7b5a-0f83-4674-be36-b2f9763b1a5b";
const EVENT_PARENTS = ["6ce7c48e-ef63-4769-aa30-98e2fb3defb5", "529caf20-eb7b-4c11-84f0-1a7487cc787c"];
const CHAIN_ANCESTORS = ["ed582a9d-87c5-4036-ba16-c9dcbc6d762e", "1471845d-8c68-48ef-b93e-a84f04b855c8"];
const CHAIN_END = "a65d00c8-8a6f-4430-be65-c0dba16065f4";
const UNKNOWN_ID = "ab4f28bf-5e3d-4ff8-af6f-bc6aef711517";
const LATEST_EXAMPLE_ID = "53695be6-262b-41ab-b17f-6ed0a1d63e82";

const SOURCE_TYPE = "^(manual|agent|scheduled|webhook|system)$";
const AGENT_TYPE = "^(claude|letta|custom)$";

const uuid = (example: string) => m.regex(UUID.source, example);
const timestamp = (example: string) => m.regex(RFC3339.source, example);

/** 2025-03-01T12:{minute}:00.000000Z, as harness.contracts.fixed_time writes it. */
const fixedTime = (minute: number) => `2025-03-01T12:${String(minute).padStart(2, "0")}:00.000000Z`;

/** Every element matches the first (which carries the matchers); at least `min` of them, 0 allowed. */
function arrayOf(items: unknown[], min: number): unknown {
  return { "pact:matcher:type": "type", min, value: items };
}

/** Any boolean (the V4 `boolean` matcher; MatchersV3.boolean writes a `type` rule). */
const booleanLike = (value: boolean): unknown => ({ "pact:matcher:type": "boolean", value });

/** The plain example value of a matcher tree (further array elements carry no rules of their own). */
const example = (tree: unknown): Record<string, unknown> => m.reify(tree) as Record<string, unknown>;

function source(app = true): Record<string, unknown> {
  const body: Record<string, unknown> = {
    host: m.string("contracts.harness.local"),
    type: m.regex(SOURCE_TYPE, "agent"),
  };
  if (app) body.app = m.string("candybar-contract");
  return body;
}

function agent(sessionId: string | null): Record<string, unknown> {
  const body: Record<string, unknown> = { type: m.regex(AGENT_TYPE, "claude"), name: m.string("candybar-contract") };
  if (sessionId !== null) body.session_id = m.string(sessionId);
  return body;
}

function storedEvent(
  eventId: string,
  eventType: string,
  options: { minute: number; correlationIds: unknown; agent: Record<string, unknown> | null; app?: boolean },
): Record<string, unknown> {
  const body: Record<string, unknown> = {
    event_id: uuid(eventId),
    event_type: m.regex(EVENT_TYPE.source, eventType),
    timestamp: timestamp(fixedTime(options.minute)),
    version: m.regex(SEMVER.source, "1.0.0"),
    source: source(options.app ?? true),
    correlation_ids: options.correlationIds,
    payload: m.like({}),
    stored_at: timestamp("2025-03-01T12:30:00.000000Z"),
  };
  if (options.agent !== null) body.agent_context = options.agent;
  return body;
}

const sessionItem = (eventId: string, minute: number) =>
  storedEvent(eventId, "agent.tool.invoked.v1", {
    minute,
    correlationIds: arrayOf([uuid(EVENT_PARENTS[0])], 0),
    agent: agent(SESSION_ID),
  });

function page(events: unknown, p: { total: number; limit: number; offset: number; hasMore: unknown }) {
  return { events, total: m.integer(p.total), limit: p.limit, offset: p.offset, has_more: p.hasMore };
}

const sessionState = { session_id: SESSION_ID, event_ids: SESSION_EVENTS };

describe("Candybar (TypeScript) reads Candystore through the contract", () => {
  const pact = new PactV4({ consumer: CONSUMER, provider: PROVIDER, dir: PACT_DIR, logLevel: "warn" });

  before(() => rmSync(PACT_FILE, { force: true })); // the interactions below are the whole pact

  test("first page of a session", async () => {
    await pact
      .addInteraction()
      .given("events for session {session_id} exist", sessionState)
      .uponReceiving("a request for the first page of a session's events")
      .withRequest("GET", "/events", (b) => b.query({ session_id: SESSION_ID, limit: "2", offset: "0" }))
      .willRespondWith(200, (b) =>
        b.jsonBody(
          page(arrayOf([sessionItem(SESSION_EVENTS[2], 2), example(sessionItem(SESSION_EVENTS[1], 1))], 2), {
            total: 3,
            limit: 2,
            offset: 0,
            hasMore: true,
          }),
        ),
      )
      .executeTest(async (server) => {
        const first = await new CandystoreClient(server.url).session(SESSION_ID, { limit: 2, offset: 0 });
        assert.deepEqual(
          first.rows.map((row) => row.eventId),
          [SESSION_EVENTS[2], SESSION_EVENTS[1]],
        );
        assert.ok(first.hasMore);
        assert.equal(first.total, 3);
        assert.equal(first.rows[0].sessionId, SESSION_ID);
      });
  });

  test("last page of a session", async () => {
    await pact
      .addInteraction()
      .given("events for session {session_id} exist", sessionState)
      .uponReceiving("a request for the last page of a session's events")
      .withRequest("GET", "/events", (b) => b.query({ session_id: SESSION_ID, limit: "2", offset: "2" }))
      .willRespondWith(200, (b) =>
        b.jsonBody(page(arrayOf([sessionItem(SESSION_EVENTS[0], 0)], 1), { total: 3, limit: 2, offset: 2, hasMore: false })),
      )
      .executeTest(async (server) => {
        const last = await new CandystoreClient(server.url).session(SESSION_ID, { limit: 2, offset: 2 });
        assert.equal(last.hasMore, false);
        assert.deepEqual(
          last.rows.map((row) => row.eventId),
          [SESSION_EVENTS[0]],
        );
      });
  });

  test("latest events", async () => {
    const latest = storedEvent(LATEST_EXAMPLE_ID, "agent.thread.prompt.v1", {
      minute: 40,
      correlationIds: arrayOf([uuid(EVENT_PARENTS[0])], 0),
      agent: null, // optional in the envelope: the latest events of a store need not carry one
      app: false,
    });
    await pact
      .addInteraction()
      .given("events exist")
      .uponReceiving("a request for the latest events")
      .withRequest("GET", "/events", (b) => b.query({ limit: "5" }))
      .willRespondWith(200, (b) =>
        b.jsonBody(page(arrayOf([latest], 1), { total: 1, limit: 5, offset: 0, hasMore: booleanLike(false) })),
      )
      .executeTest(async (server) => {
        const page = await new CandystoreClient(server.url).latest({ limit: 5 });
        assert.ok(page.rows.length > 0);
        assert.equal(page.rows[0].agent, null);
        assert.equal(page.rows[0].source, "?@contracts.harness.local (agent)");
      });
  });

  test("one event by id", async () => {
    await pact
      .addInteraction()
      .given("an event with id {event_id} exists", {
        event_id: EVENT_ID,
        correlation_ids: EVENT_PARENTS,
        session_id: SESSION_ID,
      })
      .uponReceiving("a request for one event by id")
      .withRequest("GET", `/events/${EVENT_ID}`)
      .willRespondWith(200, (b) =>
        b.jsonBody(
          storedEvent(EVENT_ID, "theboard.meeting.comment_extracted.v1", {
            minute: 10,
            // two parents: a store that keeps only one correlation id breaks this
            correlationIds: arrayOf([uuid(EVENT_PARENTS[0]), EVENT_PARENTS[1]], 2),
            agent: agent(SESSION_ID),
          }),
        ),
      )
      .executeTest(async (server) => {
        const event = await new CandystoreClient(server.url).event(EVENT_ID);
        assert.deepEqual(event.parents, EVENT_PARENTS);
        assert.equal(event.agent, "candybar-contract");
        assert.equal(event.source, "candybar-contract@contracts.harness.local (agent)");
        assert.equal(event.timestamp.toISOString(), "2025-03-01T12:10:00.000Z");
      });
  });

  test("unknown event", async () => {
    await pact
      .addInteraction()
      .given("no event with id {event_id} exists", { event_id: UNKNOWN_ID })
      .uponReceiving("a request for an unknown event")
      .withRequest("GET", `/events/${UNKNOWN_ID}`)
      .willRespondWith(404, (b) => b.jsonBody({ detail: m.string(`event ${UNKNOWN_ID} not found`) }))
      .executeTest(async (server) => {
        await assert.rejects(new CandystoreClient(server.url).event(UNKNOWN_ID), EventNotFound);
      });
  });

  test("trace of an event", async () => {
    const chainItem = storedEvent(CHAIN_ANCESTORS[0], "theboard.meeting.round_completed.v1", {
      minute: 20,
      correlationIds: arrayOf([uuid(CHAIN_ANCESTORS[0])], 0),
      agent: agent(null),
    });
    await pact
      .addInteraction()
      .given("a chain of events ending in {event_id}", { event_id: CHAIN_END, ancestor_ids: CHAIN_ANCESTORS })
      .uponReceiving("a request for the trace of an event")
      .withRequest("GET", `/events/trace/${CHAIN_END}`)
      .willRespondWith(200, (b) =>
        b.jsonBody({
          root_event_ids: arrayOf([uuid(CHAIN_ANCESTORS[0])], 1),
          events: arrayOf(
            [
              chainItem,
              { ...example(chainItem), event_id: CHAIN_ANCESTORS[1], correlation_ids: CHAIN_ANCESTORS.slice(0, 1) },
              { ...example(chainItem), event_id: CHAIN_END, correlation_ids: CHAIN_ANCESTORS.slice(1) },
            ],
            3,
          ),
          edges: arrayOf(
            [
              { parent: uuid(CHAIN_ANCESTORS[0]), child: uuid(CHAIN_ANCESTORS[1]) },
              { parent: CHAIN_ANCESTORS[1], child: CHAIN_END },
            ],
            2,
          ),
          missing_parents: [],
        }),
      )
      .executeTest(async (server) => {
        const trace = await new CandystoreClient(server.url).trace(CHAIN_END);
        assert.deepEqual(trace.roots, CHAIN_ANCESTORS.slice(0, 1));
        assert.deepEqual(trace.missingParents, []);
        assert.deepEqual(
          trace.rows.map((row) => row.eventId),
          [...CHAIN_ANCESTORS, CHAIN_END],
        );
        assert.deepEqual(trace.edges.at(-1), [CHAIN_ANCESTORS[1], CHAIN_END]);
      });
  });

  test("invalid limit", async () => {
    await pact
      .addInteraction()
      .uponReceiving("a request for events with an invalid limit")
      .withRequest("GET", "/events", (b) => b.query({ limit: "0" }))
      .willRespondWith(422)
      .executeTest(async (server) => {
        await assert.rejects(new CandystoreClient(server.url).latest({ limit: 0 }), InvalidQuery);
      });
  });

  test("health check", async () => {
    await pact
      .addInteraction()
      .uponReceiving("a health check")
      .withRequest("GET", "/health")
      .willRespondWith(200, (b) =>
        b.jsonBody({
          status: m.regex("^(ok|degraded)$", "ok"),
          version: m.string("1.0.0"),
          database: m.regex("^(up|down)$", "up"),
          broker: m.regex("^(up|down)$", "up"),
        }),
      )
      .executeTest(async (server) => {
        assert.equal((await new CandystoreClient(server.url).health()).database, "up");
      });
  });
});
