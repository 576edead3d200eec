/**
 * Drift test of the Zod schemas Candybar parses answers with (src/schemas.ts): the envelope's (generated
 * from Holyfields) must say what the Holyfields envelope schema says, and the hand-written answer shapes
 * must have the fields of the Candystore OpenAPI document (fields, required fields, types, patterns, enums).
 * Their agreement with the generated TypeScript types is checked by `tsc` (the `Assignable` types).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import { z } from "zod";

import { CandystoreClient, InvalidAnswer } from "../src/client.ts";
import * as schemas from "../src/schemas.ts";

const CONTRACTS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const read = (relative: string) => JSON.parse(readFileSync(path.join(CONTRACTS, relative), "utf8"));
const ENVELOPE = read("schemas/core/event-envelope.v1.schema.json");
const OPENAPI = read("openapi/candystore.openapi.json").components.schemas;

type Json = { [key: string]: any };

/** What a schema node says that Candybar relies on, recursively (descriptions, examples, formats ignored). */
function shape(node: Json | undefined): unknown {
  if (node === undefined) return undefined;
  if (node.$ref) return shape(OPENAPI[String(node.$ref).split("/").at(-1)!]);
  const type = node.type === "integer" || node.type === "number" ? "number" : node.type;
  const out: Json = { type };
  if (node.pattern) out.pattern = node.pattern;
  if (node.enum) out.enum = [...node.enum].sort();
  if (type === "array") out.items = shape(node.items);
  if (type === "object" && node.properties) {
    out.required = [...(node.required ?? [])].sort();
    out.properties = Object.fromEntries(
      Object.keys(node.properties)
        .sort()
        .map((key) => [key, shape(node.properties[key])]),
    );
  }
  return out;
}

const zodShape = (schema: z.ZodType) => shape(z.toJSONSchema(schema, { unrepresentable: "any" }) as Json);

/** Property names and required names only (the OpenAPI document leaves the envelope's fields loose). */
function fields(node: Json): { properties: string[]; required: string[] } {
  return { properties: Object.keys(node.properties ?? {}).sort(), required: [...(node.required ?? [])].sort() };
}

test("the Zod envelope says what the Holyfields envelope schema says", () => {
  assert.deepEqual(zodShape(schemas.Envelope), shape(ENVELOPE));
});

test("the Zod answers know every field of the Candystore OpenAPI document and require no other", () => {
  const cases: Array<[string, z.ZodType]> = [
    ["StoredEvent", schemas.StoredEvent],
    ["EventPage", schemas.EventPage],
    ["Trace", schemas.Trace],
    ["Edge", schemas.Edge],
    ["Detail", schemas.Detail],
    ["Health", schemas.Health],
  ];
  for (const [name, schema] of cases) {
    const ours = fields(z.toJSONSchema(schema) as Json);
    const documented = fields(OPENAPI[name]);
    assert.deepEqual(ours.properties, documented.properties, `${name}: fields drifted`);
    const unpromised = ours.required.filter((key) => !documented.required.includes(key));
    assert.deepEqual(unpromised, [], `${name}: Zod requires fields the provider does not promise`);
  }
});

test("an answer without a field Candybar reads is an error naming the field", async () => {
  const event = {
    event_id: "b02b7b5a-0f83-4674-be36-b2f9763b1a5b",
    event_type: "agent.tool.invoked.v1",
    timestamp: "2025-03-01T12:10:00Z",
    version: "1.0.0",
    source: { host: "h", type: "agent" },
    parent_ids: [],
    payload: {},
    stored_at: "2025-03-01T12:10:01Z",
  };
  const server = createServer((_request, response) => {
    response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(event));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const client = new CandystoreClient(`http://127.0.0.1:${port}`);
    await assert.rejects(client.event(event.event_id), (error: unknown) => {
      assert.ok(error instanceof InvalidAnswer);
      assert.match(error.message, /\$\.correlation_ids/);
      return true;
    });
  } finally {
    server.close();
  }
});
