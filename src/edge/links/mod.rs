//! What end users follow: reconnect links and the connections page.

pub(crate) mod connections_page;
pub(crate) mod reconnect;
pub(crate) mod reconnect_tokens;
