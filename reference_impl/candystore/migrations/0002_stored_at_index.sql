-- The stream's resume (WS /events/stream?after=<stored_at>, ADR 0031) reads events in stored_at order, and
-- every insert reads the newest stored_at to keep it strictly increasing.
CREATE INDEX events_stored_at_idx ON events (stored_at);
