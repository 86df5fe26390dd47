//! The body of a webhook: one event, in the Standard Webhooks shape `{type, timestamp, data}`.
//!
//! Rendered once per event and stored, so every delivery and every retry sends the same
//! bytes. Deliveries have no order guarantee (queues don't keep order), so `data` carries the
//! connection's sequence number (per connection, no gaps) and its health at that point: a
//! receiver keeps, per connection, the highest `seq` it has seen and drops older ones.

use crate::core::common::clock::Timestamp;
use crate::core::grant::grant_events::EventKind;
use serde_json::json;

/// One stored event, as the webhook tells it.
pub struct EventRecord<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub connection_id: &'a str,
    pub end_user_ref: &'a str,
    pub provider: &'a str,
    pub seq: i64,
    pub colour: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
    pub occurred_at: Timestamp,
}

/// Whether the event's body carries a reconnect link: a yellow or red connection that still
/// exists (a disconnected one has nothing to reconnect).
pub fn wants_reconnect_link(kind: &str, colour: &str) -> bool {
    kind != EventKind::Disconnected.as_str() && matches!(colour, "yellow" | "red")
}

/// The body's bytes.
pub fn render(event: &EventRecord<'_>, reconnect_url: Option<&str>) -> String {
    let mut data = json!({
        "event_id": event.id,
        "connection_id": event.connection_id,
        "end_user_ref": event.end_user_ref,
        "provider": event.provider,
        "seq": event.seq,
        "health": event.colour,
        "reason": event.reason,
        "message": event.message,
    });
    if let Some(url) = reconnect_url {
        data["reconnect_url"] = json!(url);
    }
    json!({
        "type": event.kind,
        "timestamp": event.occurred_at.to_rfc3339(),
        "data": data,
    })
    .to_string()
}

/// A post target's event (`post.published`, `post.failed`, `post.parked`, `post.unconfirmed`).
/// `seq` is the target's own sequence: a receiver keeps the highest per target.
pub struct PostEventRecord<'a> {
    pub id: &'a str,
    pub kind: &'a str,
    pub post_id: &'a str,
    pub target_id: &'a str,
    pub connection_id: &'a str,
    pub end_user_ref: &'a str,
    pub provider: &'a str,
    pub seq: i64,
    pub platform_post_id: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub message: &'a str,
    pub occurred_at: Timestamp,
}

/// A post event's body, stored when the event is written.
pub fn render_post(event: &PostEventRecord<'_>) -> String {
    json!({
        "type": event.kind,
        "timestamp": event.occurred_at.to_rfc3339(),
        "data": {
            "event_id": event.id,
            "post_id": event.post_id,
            "target_id": event.target_id,
            "connection_id": event.connection_id,
            "end_user_ref": event.end_user_ref,
            "provider": event.provider,
            "seq": event.seq,
            "state": event.kind.trim_start_matches("post."),
            "platform_post_id": event.platform_post_id,
            "reason": event.reason,
            "message": event.message,
        },
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &'static str, colour: &'static str) -> EventRecord<'static> {
        EventRecord {
            id: "evt_1",
            kind,
            connection_id: "conn_1",
            end_user_ref: "user-1",
            provider: "x",
            seq: 3,
            colour,
            reason: "revoked_or_expired",
            message: "Reconnect the account.",
            occurred_at: Timestamp::from_millis(1_800_000_000_000),
        }
    }

    #[test]
    fn a_body_names_the_event_its_sequence_and_the_state_at_that_point() {
        let e = event("connection.revoked", "red");
        assert!(wants_reconnect_link(e.kind, e.colour));
        let body: serde_json::Value =
            serde_json::from_str(&render(&e, Some("https://eg/reconnect/t"))).unwrap();
        assert_eq!(body["type"], "connection.revoked");
        assert_eq!(body["timestamp"], "2027-01-15T08:00:00.000Z");
        assert_eq!(body["data"]["seq"], 3);
        assert_eq!(body["data"]["health"], "red");
        assert_eq!(body["data"]["reconnect_url"], "https://eg/reconnect/t");
        assert_eq!(
            render(&e, None),
            render(&e, None),
            "the same bytes each time"
        );
        assert!(!wants_reconnect_link("connection.recovered", "green"));
        assert!(!wants_reconnect_link("connection.disconnected", "red"));
        assert!(wants_reconnect_link("connection.expiring", "yellow"));
    }

    #[test]
    fn a_post_event_names_the_post_its_target_and_the_platforms_id() {
        let body: serde_json::Value = serde_json::from_str(&render_post(&PostEventRecord {
            id: "evt_1",
            kind: "post.published",
            post_id: "post_1",
            target_id: "tgt_1",
            connection_id: "conn_1",
            end_user_ref: "u-1",
            provider: "x",
            seq: 1,
            platform_post_id: Some("1445880548472328192"),
            reason: None,
            message: "Published on X.",
            occurred_at: Timestamp::from_millis(0),
        }))
        .unwrap();
        assert_eq!(body["type"], "post.published");
        assert_eq!(body["data"]["state"], "published");
        assert_eq!(body["data"]["target_id"], "tgt_1");
        assert_eq!(body["data"]["platform_post_id"], "1445880548472328192");
        assert_eq!(body["data"]["connection_id"], "conn_1");
    }
}
