-- What the hourly sweep prunes (core::retention): an index on each pruned table's time, so a
-- run finds the old rows without scanning the table.
CREATE INDEX events_by_time ON events (occurred_at);
CREATE INDEX webhook_deliveries_settled ON webhook_deliveries (created_at) WHERE status != 'pending';
CREATE INDEX token_reads_by_time ON token_reads (at);
CREATE INDEX reconnect_nonces_by_time ON reconnect_nonces (consumed_at);
