-- Lists page by cursor (issue 33, core::http::cursor): each list reads its next page from an
-- index in its own order, so a page costs about the page, whatever the tenant holds.
--
-- The tenant's connections, oldest first (ties by id): GET /v1/connections, all or green.
CREATE INDEX connections_by_tenant ON connections (tenant_id, created_at, id);
-- One end user's, in the same order.
DROP INDEX connections_by_end_user;
CREATE INDEX connections_by_end_user ON connections (tenant_id, end_user_ref, created_at, id);
-- The connections that can be red or yellow, each fact through its own index
-- (store::connections::PAGE_UNHEALTHY): dead grants, failing refreshes, ledger dates, lost access.
CREATE INDEX grants_by_tenant_state ON grants (tenant_id, state);
CREATE INDEX grants_by_tenant_refresh ON grants (tenant_id, refresh_state);
CREATE INDEX grants_by_tenant_expiry ON grants (tenant_id, grant_expires_at);
CREATE INDEX connections_by_tenant_access ON connections (tenant_id, access);
-- Posts and deliveries, newest first with ties by id: the indexes gain the id.
DROP INDEX posts_by_tenant;
CREATE INDEX posts_by_tenant ON posts (tenant_id, created_at, id);
DROP INDEX posts_by_end_user;
CREATE INDEX posts_by_end_user ON posts (tenant_id, end_user_ref, created_at, id);
DROP INDEX webhook_deliveries_by_endpoint;
CREATE INDEX webhook_deliveries_by_endpoint ON webhook_deliveries (endpoint_id, created_at, id);
