/**
 * Zod schemas of Candystore's answers, for runtime validation in Candybar.
 *
 * The envelope's schemas are GENERATED from the Holyfields JSON Schemas (`harness schemas generate` writes
 * contracts/generated/typescript/events.zod.ts next to the TypeScript types; `harness schemas check` fails
 * when they drift). The answer shapes around it (page, trace, detail, health) are written here from the
 * Candystore OpenAPI document (contracts/openapi/candystore.openapi.json); test/schemas.test.ts compares
 * them with it, and the `Assignable` checks below fail `tsc` when a parsed answer is no longer a value of
 * the generated types. (`zod` resolves through `paths` in tsconfig.json: the generated file lives outside
 * this package.)
 */
import { z } from "zod";

import type { EventEnvelope, EventEnvelopeAgentContext, EventEnvelopeSource } from "../../../generated/typescript/events.ts";
import {
  EventEnvelopeAgentContextSchema,
  EventEnvelopeSchema,
  EventEnvelopeSourceSchema,
  EventEnvelopeTraceContextSchema,
} from "../../../generated/typescript/events.zod.ts";

export const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
export const EVENT_TYPE = /^[a-z][a-z0-9]*\.[a-z_.]+\.v[0-9]+$/;
export const RFC3339 =
  /^(?:[0-9]{3}[1-9]|[0-9]{2}[1-9][0-9]|[0-9][1-9][0-9]{2}|[1-9][0-9]{3})-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])[Tt](?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$/;
export const SEMVER = /^[0-9]+\.[0-9]+\.[0-9]+$/;

const uuid = () => z.string().regex(UUID);

export const Source = EventEnvelopeSourceSchema;
export const AgentContext = EventEnvelopeAgentContextSchema;
export const TraceContext = EventEnvelopeTraceContextSchema;

/** The envelope of Holyfields' core/event-envelope.v1 schema (generated). */
export const Envelope = EventEnvelopeSchema;

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
