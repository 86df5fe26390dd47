//! Counts a tenant's API request against its budget in the Rate Limiting binding.

use crate::core::common::ids::TenantId;
use crate::core::common::log::LogLine;
use crate::core::http::api_error::ApiError;
use crate::core::tenancy::rate_limit;
use crate::edge::common::bindings::TENANT_RATE_LIMIT;
use crate::edge::common::clock;
use crate::edge::common::context::Context;
use crate::edge::common::logging;

/// `Ok` while the tenant is inside its budget, `rate_limited` once it has spent it.
///
/// A limiter that is missing or fails lets the request through and logs `rate_limit.unavailable`:
/// an outage of the guard must not stop token reads and publishing.
pub async fn admit(cx: &Context, tenant_id: &TenantId) -> Result<(), ApiError> {
    let outcome = match cx.env().rate_limiter(TENANT_RATE_LIMIT) {
        Ok(limiter) => limiter.limit(rate_limit::key(tenant_id)).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(o) if o.success => Ok(()),
        Ok(_) => Err(rate_limit::exceeded()),
        Err(e) => {
            logging::emit(
                &LogLine::error("rate_limit.unavailable", clock::real_now())
                    .field("binding", TENANT_RATE_LIMIT)
                    .field("error", e.to_string()),
            );
            Ok(())
        }
    }
}
