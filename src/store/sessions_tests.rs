//! Native tests of `store::sessions`: each browser flow's session is opened or consumed once,
//! only while valid, and a deleted tenant's page links open nothing.

use super::grants_tests::{at, run, seeded, GR_A, T0, TEN_G};
use super::sessions::{self, NewConnect, NewOauth, NewPage, NewReconnect};
use super::sqlite::{block_on, Sqlite};
use super::{tenants, Db, Row, Statement};
use serde_json::Value;

fn rows(db: &Sqlite, statement: Statement) -> Vec<Row> {
    block_on(db.run(statement)).unwrap().rows
}

fn connect<'a>(id: &'a str, hash: &'a str) -> NewConnect<'a> {
    NewConnect {
        id,
        token_hash: hash,
        tenant_id: &TEN_G,
        provider: "x",
        end_user_ref: "alice",
        return_url: "https://app.example/back",
        now: T0,
        expires_at: at(1),
    }
}

/// Connect links open once while valid; an OAuth round trip is stored, found and consumed once.
pub fn connect_and_oauth(db: &Sqlite) {
    block_on(tenants::create(db, "ten_g", "G", T0)).unwrap();
    assert_eq!(run(db, sessions::create_connect(&connect("cs_1", "h1"))), 1);
    assert!(
        block_on(db.run(sessions::create_connect(&connect("cs_2", "h1")))).is_err(),
        "one session per secret"
    );
    assert!(
        rows(db, sessions::open_connect("h1", at(1))).is_empty(),
        "expired"
    );
    let opened = rows(db, sessions::open_connect("h1", at(0))).remove(0);
    assert_eq!(opened.text("id").unwrap(), "cs_1");
    assert_eq!(
        opened.text("return_url").unwrap(),
        "https://app.example/back"
    );
    assert!(
        rows(db, sessions::open_connect("h1", at(0))).is_empty(),
        "once"
    );
    let found = rows(db, sessions::find_connect("h1")).remove(0);
    assert_eq!(found.text("provider").unwrap(), "x");
    assert_eq!(found.int("opened_at").unwrap(), at(0).as_millis());
    // A per-server template's session names its server once.
    assert_eq!(
        run(
            db,
            sessions::choose_provider("cs_1", "x", "x:a.example.org")
        ),
        1
    );
    assert_eq!(
        run(
            db,
            sessions::choose_provider("cs_1", "x", "x:b.example.org")
        ),
        0
    );
    let found = rows(db, sessions::find_connect("h1")).remove(0);
    assert_eq!(found.text("provider").unwrap(), "x:a.example.org");
    assert_eq!(found.int("expires_at").unwrap(), at(1).as_millis());
    assert!(rows(db, sessions::find_connect("h_unknown")).is_empty());

    let oauth = NewOauth {
        state_hash: "st_1",
        connect_session_id: "cs_1",
        binding_hash: "b",
        verifier_ciphertext: "sealed",
        key_id: "k1",
        redirect_uri: "https://evergreen.example/callback",
        now: T0,
        expires_at: at(1),
        context_ciphertext: None,
    };
    assert_eq!(run(db, sessions::create_oauth(&oauth)), 1);
    let orphan = NewOauth {
        state_hash: "st_2",
        connect_session_id: "cs_none",
        ..oauth
    };
    assert!(
        block_on(db.run(sessions::create_oauth(&orphan))).is_err(),
        "foreign keys hold"
    );
    let s = rows(db, sessions::find_oauth("st_1")).remove(0);
    assert_eq!(s.text("tenant_id").unwrap(), "ten_g");
    assert_eq!(s.text("verifier_ciphertext").unwrap(), "sealed");
    assert_eq!(s.opt_text("context_ciphertext").unwrap(), None);
    assert_eq!(s.opt_text("reconnect_grant_id").unwrap(), None);
    assert_eq!(run(db, sessions::consume_oauth("st_1", at(0))), 1);
    assert_eq!(
        run(db, sessions::consume_oauth("st_1", at(0))),
        0,
        "single use"
    );

    // A reconnect link's session: opened at once, carrying the grant, epoch and nonce.
    seeded(db, "gr_a");
    let reconnect = NewReconnect {
        session: NewConnect {
            return_url: "",
            ..connect("cs_r", "h_r")
        },
        grant_id: &GR_A,
        epoch: 3,
        nonce: "n1",
    };
    assert_eq!(run(db, sessions::create_reconnect(&reconnect)), 1);
    assert!(
        rows(db, sessions::open_connect("h_r", T0)).is_empty(),
        "already open"
    );
    run(
        db,
        sessions::create_oauth(&NewOauth {
            state_hash: "st_r",
            connect_session_id: "cs_r",
            context_ciphertext: Some("sealed-context"),
            ..oauth
        }),
    );
    let r = rows(db, sessions::find_oauth("st_r")).remove(0);
    assert_eq!(
        r.opt_text("context_ciphertext").unwrap().as_deref(),
        Some("sealed-context"),
        "a Bluesky round trip keeps its context"
    );
    assert_eq!(
        r.opt_text("reconnect_grant_id").unwrap().as_deref(),
        Some("gr_a")
    );
    assert_eq!(r.opt_int("reconnect_epoch").unwrap(), Some(3));
    assert_eq!(
        r.opt_text("reconnect_nonce").unwrap().as_deref(),
        Some("n1")
    );
    assert_eq!(r.text("return_url").unwrap(), "");
}

/// A page link opens one session; the session is found by its cookie while valid and while
/// its tenant is not deleted.
pub fn pages(db: &Sqlite) {
    block_on(tenants::create(db, "ten_g", "G", T0)).unwrap();
    let page = NewPage {
        id: "ps_1",
        link_nonce: "ln_1",
        secret_hash: "sh_1",
        tenant_id: &TEN_G,
        end_user_ref: "alice",
        csrf: "csrf",
        now: T0,
        expires_at: at(2),
    };
    assert_eq!(run(db, sessions::open_page(&page)), 1);
    assert_eq!(
        run(
            db,
            sessions::open_page(&NewPage {
                id: "ps_2",
                secret_hash: "sh_2",
                ..page
            })
        ),
        0,
        "one session per link"
    );
    assert_eq!(
        run(
            db,
            sessions::open_page(&NewPage {
                id: "ps_3",
                link_nonce: "ln_3",
                secret_hash: "sh_3",
                tenant_id: &"ten_none".into(),
                ..page
            })
        ),
        0,
        "no such tenant"
    );
    let s = rows(db, sessions::page("sh_1", at(1))).remove(0);
    assert_eq!(
        (s.text("id").unwrap(), s.text("csrf").unwrap()),
        ("ps_1".into(), "csrf".into())
    );
    assert!(
        rows(db, sessions::page("sh_1", at(2))).is_empty(),
        "expired"
    );
    db.exec("UPDATE tenants SET deleted_at = 1 WHERE id = 'ten_g'");
    assert!(
        rows(db, sessions::page("sh_1", at(1))).is_empty(),
        "a deleted tenant's page"
    );
    assert_eq!(
        run(
            db,
            sessions::open_page(&NewPage {
                id: "ps_4",
                link_nonce: "ln_4",
                secret_hash: "sh_4",
                ..page
            })
        ),
        0
    );
    assert_eq!(
        db.value("SELECT COUNT(*) FROM page_sessions"),
        Value::from(1)
    );
}
