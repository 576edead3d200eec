/**
 * The Candystore calls Candybar makes, typed with the types generated from the Holyfields schemas and
 * validated at runtime with the Zod schemas of ./schemas.ts: an answer Candybar cannot read is an error
 * naming the field, not a blank screen.
 */
import type { z } from "zod";

import type { AgentThreadPromptV1, EventEnvelope } from "../../../generated/typescript/events.ts";
import * as schemas from "./schemas.ts";

export type StoredEvent = schemas.StoredEventT;

/** Candystore answered 404 for an event id. */
export class EventNotFound extends Error {}

/** Candystore rejected the query parameters (422). */
export class InvalidQuery extends Error {}

/** Candystore answered, but not in the shape Candybar reads. */
export class InvalidAnswer extends Error {}

/** One row of Candybar's event list. */
export interface EventRow {
  eventId: string;
  eventType: string;
  timestamp: Date;
  version: string;
  source: string;
  parents: string[];
  agent: string | null;
  sessionId: string | null;
  payload: EventEnvelope["payload"];
}

export interface Page {
  rows: EventRow[];
  total: number;
  limit: number;
  offset: number;
  hasMore: boolean;
}

export interface Trace {
  roots: string[];
  rows: EventRow[];
  edges: Array<[parent: string, child: string]>;
  missingParents: string[];
  truncated: boolean;
}

export function rowOf(event: StoredEvent): EventRow {
  const agent = event.agent_context;
  const session = agent?.["session_id"];
  return {
    eventId: event.event_id,
    eventType: event.event_type,
    timestamp: new Date(event.timestamp),
    version: event.version,
    source: `${event.source.app ?? "?"}@${event.source.host} (${event.source.type})`,
    parents: [...event.correlation_ids],
    agent: agent?.name ?? null,
    sessionId: typeof session === "string" ? session : null,
    payload: event.payload,
  };
}

/** The prompt text of an `agent.thread.prompt.v1` event (typed by the generated payload interface). */
export function promptOf(event: EventEnvelope<"agent.thread.prompt.v1", AgentThreadPromptV1>): string {
  return event.payload.prompt;
}

export class CandystoreClient {
  constructor(
    readonly baseUrl: string,
    readonly timeoutMs = 10_000,
  ) {}

  private async get<S extends z.ZodType>(
    path: string,
    schema: S,
    params?: Record<string, string | number>,
  ): Promise<z.infer<S>> {
    const url = new URL(path, this.baseUrl);
    for (const [key, value] of Object.entries(params ?? {})) url.searchParams.set(key, String(value));
    const response = await fetch(url, {
      headers: { accept: "application/json" },
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (response.status === 404) {
      throw new EventNotFound(schemas.Detail.parse(await response.json()).detail);
    }
    if (response.status === 422) throw new InvalidQuery(`${path}: ${url.search}`);
    if (!response.ok) throw new Error(`GET ${url}: HTTP ${response.status}`);
    const parsed = schema.safeParse(await response.json());
    if (!parsed.success) {
      const problems = parsed.error.issues.map((issue) => `$.${issue.path.join(".")}: ${issue.message}`);
      throw new InvalidAnswer(`GET ${path}: ${problems.join("; ")}`);
    }
    return parsed.data;
  }

  private static page(body: z.infer<typeof schemas.EventPage>): Page {
    return {
      rows: body.events.map(rowOf),
      total: body.total,
      limit: body.limit,
      offset: body.offset,
      hasMore: body.has_more,
    };
  }

  async session(sessionId: string, options: { limit: number; offset: number }): Promise<Page> {
    const body = await this.get("/events", schemas.EventPage, { session_id: sessionId, ...options });
    return CandystoreClient.page(body);
  }

  async latest(options: { limit: number }): Promise<Page> {
    return CandystoreClient.page(await this.get("/events", schemas.EventPage, options));
  }

  async event(eventId: string): Promise<EventRow> {
    return rowOf(await this.get(`/events/${encodeURIComponent(eventId)}`, schemas.StoredEvent));
  }

  async trace(eventId: string): Promise<Trace> {
    const body = await this.get(`/events/trace/${encodeURIComponent(eventId)}`, schemas.Trace);
    return {
      roots: body.root_event_ids,
      rows: body.events.map(rowOf),
      edges: body.edges.map((edge) => [edge.parent, edge.child] as [string, string]),
      missingParents: body.missing_parents,
      truncated: body.truncated ?? false,
    };
  }

  async health(): Promise<z.infer<typeof schemas.Health>> {
    return this.get("/health", schemas.Health);
  }
}
