/**
 * The Zod schemas generated from Holyfields (contracts/generated/typescript/events.zod.ts) against the
 * envelope corpus (fixtures/envelopes): every valid envelope parses, envelope and payload; every invalid one
 * whose broken rule Zod enforces (required, type, pattern, enum, bounds, lengths) is rejected. Broken formats
 * and unknown event types are the JSON Schema validator's business and are left out.
 */
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

import type { z } from "zod";

import { EventEnvelopeSchema, PAYLOAD_SCHEMAS } from "../../../generated/typescript/events.zod.ts";

const CORPUS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../../../fixtures/envelopes");
const ENFORCED = new Set(["required", "type", "pattern", "enum", "minimum", "maximum", "minLength"]);

const read = (folder: string) =>
  readdirSync(path.join(CORPUS, folder))
    .filter((name) => name.endsWith(".json"))
    .sort()
    .map((name) => ({ name, data: JSON.parse(readFileSync(path.join(CORPUS, folder, name), "utf8")) }));

function problems(document: unknown): string[] {
  const envelope = EventEnvelopeSchema.safeParse(document);
  if (!envelope.success) return envelope.error.issues.map((i) => `envelope $.${i.path.join(".")}: ${i.message}`);
  const schema = (PAYLOAD_SCHEMAS as Record<string, z.ZodType>)[envelope.data.event_type];
  if (schema === undefined) return [`unknown event type ${envelope.data.event_type}`];
  const payload = schema.safeParse(envelope.data.payload);
  return payload.success ? [] : payload.error.issues.map((i) => `payload $.${i.path.join(".")}: ${i.message}`);
}

test("every valid envelope of the corpus parses with the generated Zod schemas", () => {
  const valid = read("valid");
  assert.ok(valid.length > 0, `no envelopes in ${CORPUS}/valid`);
  for (const { name, data } of valid) assert.deepEqual(problems(data), [], name);
});

test("every invalid envelope whose rule Zod enforces is rejected by the generated Zod schemas", () => {
  // `envelope`: the document; `raw`: the body as sent (`raw_b64`: not even text, not a document)
  const cases = read("invalid").filter(({ data }) => ENFORCED.has(data.rule) && !data.raw_b64);
  assert.ok(cases.length > 100, `only ${cases.length} invalid envelopes with a rule Zod enforces`);
  const accepted = cases.filter(({ data }) => problems(data.envelope ?? JSON.parse(data.raw)).length === 0);
  assert.deepEqual(
    accepted.map(({ name, data }) => `${name} (${data.rule} at ${data.path})`),
    [],
  );
});
