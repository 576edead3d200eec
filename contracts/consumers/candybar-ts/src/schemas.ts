/**
 * Zod schemas of Candystore's answers, for runtime validation in Candybar.
 *
 * Written by hand from the Holyfields envelope schema (contracts/schemas/core/event-envelope.v1.schema.json)
 * and the Candystore OpenAPI document (contracts/openapi/candystore.openapi.json). They cannot drift
 * silently: test/schemas.test.ts compares them (z.toJSONSchema) with both documents (fields, required
 * fields, patterns, enums), and the `Assignable` checks below fail `tsc` when a parsed answer is no
 * longer a value of the types generated from the same schemas (contracts/generated/typescript/events.ts).
 */
import { z } from "zod";

import type { EventEnvelope, EventEnvelopeAgentContext, EventEnvelopeSource } from "../../../generated/typescript/events.ts";

export const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
export const EVENT_TYPE = /^[a-z][a-z0-9]*\.[a-z_.]+\.v[0-9]+$/;
export const RFC3339 =
  /^(?:[0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$/;
export const SEMVER = /^[0-9]+\.[0-9]+\.[0-9]+$/;
const HEX32 = /^[0-9a-f]{32}$/;
const HEX16 = /^[0-9a-f]{16}$/;
const HEX2 = /^[0-9a-f]{2}$/;

const uuid = () => z.string().regex(UUID);

export const Source = z.looseObject({
  host: z.string(),
  type: z.enum(["manual", "agent", "scheduled", "webhook", "system"]),
  app: z.string().optional(),
  meta: z.record(z.string(), z.unknown()).optional(),
});

export const AgentContext = z.looseObject({
  type: z.enum(["claude", "letta", "custom"]),
  name: z.string().optional(),
  instance_id: uuid().optional(),
  system_prompt: z.string().optional(),
  mcp_servers: z.array(z.string()).optional(),
  file_references: z.array(z.string()).optional(),
});

export const TraceContext = z.looseObject({
  trace_id: z.string().regex(HEX32),
  span_id: z.string().regex(HEX16),
  trace_flags: z.string().regex(HEX2).optional(),
});

/** The envelope of Holyfields' core/event-envelope.v1 schema. */
export const Envelope = z.looseObject({
  event_id: uuid(),
  event_type: z.string().regex(EVENT_TYPE),
  timestamp: z.string().regex(RFC3339),
  version: z.string().regex(SEMVER),
  source: Source,
  correlation_ids: z.array(uuid()),
  agent_context: AgentContext.optional(),
  payload: z.record(z.string(), z.unknown()),
  trace_context: TraceContext.optional(),
});

/** OpenAPI `StoredEvent`: the envelope exactly as published plus `stored_at`. */
export const StoredEvent = Envelope.extend({ stored_at: z.string().regex(RFC3339) });

/** OpenAPI `EventPage`. */
export const EventPage = z.object({
  events: z.array(StoredEvent),
  total: z.int(),
  limit: z.int(),
  offset: z.int(),
  has_more: z.boolean(),
});

/** OpenAPI `Edge`. */
export const Edge = z.object({ parent: uuid(), child: uuid() });

/** OpenAPI `Trace`. */
export const Trace = z.object({
  root_event_ids: z.array(uuid()),
  events: z.array(StoredEvent),
  edges: z.array(Edge),
  missing_parents: z.array(uuid()),
  // not in the Candybar pact: Candybar shows a cut trace when told, and does not require being told
  truncated: z.boolean().optional(),
});

/** OpenAPI `Detail` (the 404 answer). */
export const Detail = z.object({ detail: z.string() });

/** OpenAPI `Health`. */
export const Health = z.object({
  status: z.string(),
  version: z.string(),
  database: z.string(),
  broker: z.string(),
});

export type StoredEventT = EventEnvelope & { stored_at: string };

// Compile-time drift checks: what Zod accepts must be a value of the generated types.
type Assignable<T, U extends T> = U;
export type _EnvelopeIsGenerated = Assignable<EventEnvelope, z.infer<typeof Envelope>>;
export type _SourceIsGenerated = Assignable<EventEnvelopeSource, z.infer<typeof Source>>;
export type _AgentIsGenerated = Assignable<EventEnvelopeAgentContext, z.infer<typeof AgentContext>>;
export type _StoredIsGenerated = Assignable<StoredEventT, z.infer<typeof StoredEvent>>;
