-- The event store: one row per event_id, the full envelope kept (columns for queries, raw body for audit).
CREATE TABLE events (
    event_id        uuid        PRIMARY KEY,
    event_type      text        NOT NULL,
    "timestamp"     timestamptz NOT NULL,
    version         text        NOT NULL,
    source          jsonb       NOT NULL,
    correlation_ids uuid[]      NOT NULL DEFAULT '{}',
    agent_context   jsonb,
    payload         jsonb       NOT NULL,
    trace_context   jsonb,
    envelope        jsonb       NOT NULL,
    routing_key     text        NOT NULL,
    raw_body        bytea       NOT NULL,
    stored_at       timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- GET /events orders by ("timestamp" DESC, event_id DESC); each filter has an index of its own.
CREATE INDEX events_timestamp_idx ON events ("timestamp" DESC, event_id DESC);
CREATE INDEX events_type_timestamp_idx ON events (event_type, "timestamp" DESC, event_id DESC);
CREATE INDEX events_source_app_idx ON events ((source ->> 'app'), "timestamp" DESC, event_id DESC);
CREATE INDEX events_agent_session_idx ON events ((agent_context ->> 'session_id'))
    WHERE agent_context ? 'session_id';
CREATE INDEX events_payload_session_idx ON events ((payload ->> 'session_id'))
    WHERE payload ? 'session_id';
-- correlation_id filter and the trace endpoint's descendant walk (correlation_ids @> ARRAY[id]; queries
-- repeat the predicate). Root events ('{}') are not indexed; no pending list, so no periodic merge stalls.
CREATE INDEX events_correlation_ids_idx ON events USING gin (correlation_ids)
    WITH (fastupdate = off) WHERE correlation_ids <> '{}';
