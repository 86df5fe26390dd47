//! Links an end user follows: reconnect links, connections-page links, the connections page.

pub mod connections_page;
pub mod page_links;
pub mod reconnect_links;
