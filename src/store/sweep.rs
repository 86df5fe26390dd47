//! The sweep's leases: which due grants the sweep has handed to the refresh queue. A lease
//! keeps overlapping sweeps from taking the same grant twice; the grant's visit releases it,
//! and a lease never released (a lost message, a crash before the send) ends by itself.

use super::db::{decode_all, Db, StoreError};
use super::statement::{Sql, Statement};
use crate::core::common::clock::Timestamp;
use crate::core::common::ids::GrantId;
use crate::core::grant::sweep::SweepCursor;

/// Takes one page of due grants after the cursor, leasing each: one statement over the
/// `next_check_at` index, in `(next_check_at, id)` order. `next_check_at >= ?4` bounds the
/// index range from below; the OR only settles ties on the cursor's own instant.
pub const TAKE_DUE: Sql = Sql {
    name: "sweep.take_due",
    text: "INSERT INTO sweep_leases (grant_id, until, next_check_at) \
           SELECT g.id, ?1, g.next_check_at FROM grants g \
           WHERE g.next_check_at <= ?2 AND g.next_check_at >= ?4 \
             AND (g.next_check_at > ?4 OR g.id > ?5) \
             AND NOT EXISTS (SELECT 1 FROM sweep_leases l \
                             WHERE l.grant_id = g.id AND l.until > ?2) \
           ORDER BY g.next_check_at, g.id LIMIT ?3 \
           ON CONFLICT (grant_id) DO UPDATE SET until = excluded.until, \
             next_check_at = excluded.next_check_at \
           RETURNING grant_id, next_check_at",
};
pub const RELEASE: Sql = Sql {
    name: "sweep.release",
    text: "DELETE FROM sweep_leases WHERE grant_id = ?1",
};

pub const STATEMENTS: &[&Sql] = &[&TAKE_DUE, &RELEASE];

/// Takes up to `page_size` grants due at `now` after `cursor`, leased until `lease_until`.
/// Answers `(next_check_at, grant_id)` in the sweep's order.
pub async fn take_due(
    db: &impl Db,
    now: Timestamp,
    lease_until: Timestamp,
    page_size: u32,
    cursor: Option<&SweepCursor>,
) -> Result<Vec<(i64, String)>, StoreError> {
    let outcome = db
        .run(TAKE_DUE.bind(vec![
            lease_until.into(),
            now.into(),
            i64::from(page_size).into(),
            cursor.map_or(i64::MIN, |c| c.next_check_at).into(),
            cursor.map_or("", |c| c.grant_id.as_str()).into(),
        ]))
        .await?;
    let mut page = decode_all(TAKE_DUE.name, outcome, |row| {
        Ok((row.int("next_check_at")?, row.text("grant_id")?))
    })?;
    // RETURNING promises no order.
    page.sort();
    Ok(page)
}

/// The grant's visit is over: the sweep may take it again when it is next due.
pub async fn release(db: &impl Db, grant_id: &GrantId) -> Result<(), StoreError> {
    db.run(release_lease(grant_id)).await?;
    Ok(())
}

/// The statement [`release`] runs, to end another write's batch with it.
pub fn release_lease(grant_id: &GrantId) -> Statement {
    RELEASE.bind(vec![grant_id.into()])
}

#[cfg(all(test, not(target_arch = "wasm32")))]
pub(crate) mod tests {
    use super::*;
    use crate::store::sqlite::{block_on, Sqlite};
    use serde_json::Value;

    const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);

    fn grants(db: &Sqlite, due: &[(&str, Option<i64>)]) {
        db.exec("INSERT INTO tenants (id, name, created_at) VALUES ('ten_s', 'S', 0)");
        for (id, at) in due {
            let at = at.map_or("NULL".to_owned(), |ms| ms.to_string());
            db.exec(&format!(
                "INSERT INTO grants (id, tenant_id, provider, provider_account_id, client_id, \
                   end_user_ref, refresh_policy, next_check_at, created_at, updated_at) \
                 VALUES ('{id}', 'ten_s', 'x', '{id}', 'c', 'u', 'on_demand', {at}, 0, 0)"
            ));
        }
    }

    fn ids(page: &[(i64, String)]) -> Vec<&str> {
        page.iter().map(|(_, id)| id.as_str()).collect()
    }

    /// Pages follow the cursor in (next_check_at, id) order; a leased grant is not taken again
    /// until its lease ends or the visit releases it; what is not due, or never checked, is
    /// never taken.
    pub fn pages_and_leases(db: &Sqlite) {
        let t = NOW.as_millis();
        grants(
            db,
            &[
                ("gr_b", Some(t - 10)),
                ("gr_a", Some(t - 10)),
                ("gr_c", Some(t - 20)),
                ("gr_d", Some(t)),
                ("gr_later", Some(t + 1)),
                ("gr_never", None),
            ],
        );
        let lease = NOW.plus_millis(60_000);
        let first = block_on(take_due(db, NOW, lease, 2, None)).unwrap();
        assert_eq!(ids(&first), ["gr_c", "gr_a"]);
        let cursor = SweepCursor::after_page(None, first.iter().cloned()).unwrap();
        // Grants released behind the cursor, or on it, are left to the next run: pages never
        // step back.
        block_on(release(db, &"gr_c".into())).unwrap();
        block_on(release(db, &"gr_a".into())).unwrap();
        let second = block_on(take_due(db, NOW, lease, 2, Some(&cursor))).unwrap();
        assert_eq!(
            ids(&second),
            ["gr_b", "gr_d"],
            "ties on the cursor's instant go by id"
        );
        let cursor = SweepCursor::after_page(Some(cursor), second.iter().cloned()).unwrap();
        assert!(block_on(take_due(db, NOW, lease, 2, Some(&cursor)))
            .unwrap()
            .is_empty());

        // A new run from the start finds only the released grants; the rest are leased.
        assert_eq!(
            ids(&block_on(take_due(db, NOW, lease, 10, None)).unwrap()),
            ["gr_c", "gr_a"]
        );
        assert!(block_on(take_due(db, NOW, lease, 10, None))
            .unwrap()
            .is_empty());
        assert_eq!(
            db.value("SELECT until FROM sweep_leases WHERE grant_id = 'gr_a'"),
            Value::from(lease.as_millis())
        );
        // A released grant is taken again; the rest once their lease has ended.
        block_on(release(db, &"gr_a".into())).unwrap();
        assert_eq!(
            ids(&block_on(take_due(db, NOW, lease, 10, None)).unwrap()),
            ["gr_a"]
        );
        let later = lease;
        let again = block_on(take_due(db, later, later.plus_millis(60_000), 10, None)).unwrap();
        assert_eq!(
            ids(&again),
            ["gr_c", "gr_a", "gr_b", "gr_d", "gr_later"],
            "expired leases end, and what came due meanwhile is taken"
        );
        assert_eq!(
            db.value("SELECT COUNT(*) FROM sweep_leases"),
            Value::from(5),
            "one lease per grant, renewed in place"
        );
    }
}
