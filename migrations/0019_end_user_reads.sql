-- One end user's rows, found through their connections rather than among the tenant's
-- (store::erasure: the export and the end user's erasure). Post targets and events already have
-- an index by connection; token reads had only the tenant's.
CREATE INDEX token_reads_by_connection ON token_reads (connection_id, id);
