//! Requests and answers: the route table, API errors, query strings and bodies, origins, the small HTML pages.

pub mod api_error;
pub mod cursor;
pub mod json_integer;
pub mod origin;
pub mod pages;
pub mod platform_answer;
pub mod query;
pub mod request_body;
pub mod routes;
