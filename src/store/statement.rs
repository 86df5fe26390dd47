//! Statements as plain data: SQL text with a name, and the typed values bound to it.

use crate::core::common::clock::Timestamp;
use crate::core::common::ids;

/// One SQL statement of the store. The name (`module.what_it_does`) is how logs, errors and
/// the coverage test refer to it; the text uses `?1`, `?2`, … placeholders only.
#[derive(Debug)]
pub struct Sql {
    pub name: &'static str,
    pub text: &'static str,
}

impl Sql {
    /// This statement with its parameters, ready for a [`super::Db`].
    pub fn bind(&'static self, params: Vec<Param>) -> Statement {
        Statement { sql: self, params }
    }
}

/// A bound value. D1 receives integers as JavaScript numbers, exact up to 2^53: ample for
/// times in milliseconds, versions and counts.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    Null,
    Int(i64),
    Text(String),
}

impl From<&str> for Param {
    fn from(value: &str) -> Self {
        Param::Text(value.to_owned())
    }
}

impl From<String> for Param {
    fn from(value: String) -> Self {
        Param::Text(value)
    }
}

impl From<&String> for Param {
    fn from(value: &String) -> Self {
        Param::Text(value.clone())
    }
}

/// Every typed id binds as its text.
macro_rules! id_params {
    ($($id:ty),*) => {$(
        impl From<&$id> for Param {
            fn from(value: &$id) -> Self {
                Param::Text(value.as_str().to_owned())
            }
        }
    )*};
}
id_params!(
    ids::TenantId,
    ids::ApiKeyId,
    ids::GrantId,
    ids::ConnectionId,
    ids::ConnectSessionId,
    ids::PageSessionId,
    ids::PostId,
    ids::TargetId,
    ids::EventId,
    ids::DeliveryId,
    ids::WebhookEndpointId,
    ids::ClaimId,
    ids::LeaseId,
    ids::DeletionCode
);

impl From<i64> for Param {
    fn from(value: i64) -> Self {
        Param::Int(value)
    }
}

impl From<Timestamp> for Param {
    fn from(value: Timestamp) -> Self {
        Param::Int(value.as_millis())
    }
}

impl<T: Into<Param>> From<Option<T>> for Param {
    fn from(value: Option<T>) -> Self {
        value.map_or(Param::Null, Into::into)
    }
}

/// A statement and its parameters.
#[derive(Debug)]
pub struct Statement {
    pub sql: &'static Sql,
    pub params: Vec<Param>,
}
