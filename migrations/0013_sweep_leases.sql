-- The sweep's lease on a grant it handed to the refresh queue moves out of `grants` into a table
-- of its own, so the grant's Durable Object is the only writer of `grants`. The sweep takes a
-- lease here; the grant's visit releases it; an expired lease may be taken again.
CREATE TABLE sweep_leases (
  grant_id       TEXT PRIMARY KEY,           -- gr_…; no foreign key: a lease outliving its grant is harmless
  until          INTEGER NOT NULL,           -- the lease holds while now < until
  next_check_at  INTEGER NOT NULL            -- the grant's next check when taken: the sweep's cursor
);

INSERT INTO sweep_leases (grant_id, until, next_check_at)
  SELECT id, sweep_lease_until, next_check_at FROM grants
  WHERE sweep_lease_until IS NOT NULL AND next_check_at IS NOT NULL;

ALTER TABLE grants DROP COLUMN sweep_lease_until;
