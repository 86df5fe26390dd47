//! The connections page an end user opens from the scheduler (`/page`): every connection with
//! its health, its dates and what to do about it, and the posts that need a person.
//!
//! Rendering only: the edge reads the rows and the session and hands a [`PageView`] over.
//! The page is one HTML document with its style inline: no script, no font, no image, no
//! external resource, so it works offline and is served under a `default-src 'none'` policy.
//! Every value is escaped. Health is never shown by colour alone: each badge says it in words,
//! and problems are listed first.

use crate::core::common::clock::Timestamp;
use crate::core::grant::grant_health::{Colour, Health};
use crate::core::http::pages::escape;
use crate::core::oauth::flow_errors::FlowError;
use crate::core::publish::posts::TargetState;
use chrono::{DateTime, Utc};

/// What the page shows.
pub struct PageView {
    pub end_user_ref: String,
    pub now: Timestamp,
    /// Every form carries it (`page_links::csrf_matches`).
    pub csrf: String,
    pub notice: Option<Notice>,
    pub connections: Vec<ConnectionView>,
    pub posts: Vec<PostView>,
    /// Where the posts after these are listed (`/page?posts_cursor=…`), when there are more.
    pub older_posts: Option<String>,
}

pub struct ConnectionView {
    pub id: String,
    /// The platform's display name (`X`, `LinkedIn`).
    pub platform: String,
    /// `@username`, or the account's name.
    pub account: String,
    pub health: Health,
    pub access_expires_at: Option<Timestamp>,
    pub grant_expires_at: Option<Timestamp>,
    pub last_refresh_at: Option<Timestamp>,
    pub last_validated_at: Option<Timestamp>,
}

pub struct PostView {
    pub id: String,
    pub text: String,
    pub created_at: Timestamp,
    /// Only the targets that need a person (failed, parked, unconfirmed).
    pub targets: Vec<TargetView>,
}

pub struct TargetView {
    pub id: String,
    pub platform: String,
    pub account: String,
    pub state: TargetState,
    /// What went wrong, for people (never a token).
    pub message: Option<String>,
}

/// A line at the top of the page about what just happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Notice {
    pub good: bool,
    pub text: String,
}

/// What a button did; the page is shown again with `?done={code}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Disconnected,
    Retried,
    NothingToRetry,
    Resent,
    MarkedPublished,
    /// The post or target was settled by someone else meanwhile.
    AlreadySettled,
    /// The connection or post is gone (or was never this user's).
    Gone,
}

impl Outcome {
    const ALL: [Outcome; 7] = [
        Outcome::Disconnected,
        Outcome::Retried,
        Outcome::NothingToRetry,
        Outcome::Resent,
        Outcome::MarkedPublished,
        Outcome::AlreadySettled,
        Outcome::Gone,
    ];

    pub const fn code(self) -> &'static str {
        match self {
            Outcome::Disconnected => "disconnected",
            Outcome::Retried => "retried",
            Outcome::NothingToRetry => "nothing_to_retry",
            Outcome::Resent => "resent",
            Outcome::MarkedPublished => "marked_published",
            Outcome::AlreadySettled => "already_settled",
            Outcome::Gone => "gone",
        }
    }

    pub fn parse(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|o| o.code() == code)
    }

    fn notice(self) -> Notice {
        let (good, text) = match self {
            Outcome::Disconnected => (true, "Disconnected. Evergreen no longer keeps that account connected."),
            Outcome::Retried => (true, "Sent again. The post goes out to the platforms where it failed; the others are left alone."),
            Outcome::NothingToRetry => (true, "Nothing to send again: the post is already on its way."),
            Outcome::Resent => (true, "Sent again to that platform."),
            Outcome::MarkedPublished => (true, "Marked as published. It will not be sent again."),
            Outcome::AlreadySettled => (false, "That changed meanwhile, so nothing was done. The page shows where it stands now."),
            Outcome::Gone => (false, "That is no longer here (it was removed or settled meanwhile)."),
        };
        Notice {
            good,
            text: text.to_owned(),
        }
    }
}

/// The notice for the page's query: a finished reconnect (`connection_id`, from the callback),
/// a failed one (`error`, a connect flow code), or a button's outcome (`done`).
pub fn notice(
    connection_id: Option<&str>,
    error: Option<&str>,
    done: Option<&str>,
) -> Option<Notice> {
    if let Some(code) = error {
        let text = match FlowError::parse(code) {
            Some(e) => {
                let (what, todo) = e.explanation();
                format!("Could not reconnect: {what} {todo}")
            }
            None => "Could not reconnect. Try the Reconnect button again.".to_owned(),
        };
        return Some(Notice { good: false, text });
    }
    if connection_id.is_some() {
        return Some(Notice {
            good: true,
            text: "Reconnected. Everything that used this account works again.".to_owned(),
        });
    }
    done.and_then(Outcome::parse).map(Outcome::notice)
}

/// How an account is named to people: `@username`, else its name, else `fallback`.
pub fn account_label(
    username: Option<String>,
    display_name: Option<String>,
    fallback: &str,
) -> String {
    username
        .map(|u| {
            // YouTube's handles already start with `@`.
            if u.starts_with('@') {
                u
            } else {
                format!("@{u}")
            }
        })
        .or(display_name)
        .unwrap_or_else(|| fallback.to_owned())
}

/// What a badge says, beside its colour.
pub const fn badge_label(colour: Colour) -> &'static str {
    match colour {
        Colour::Green => "Working",
        Colour::Yellow => "Needs attention soon",
        Colour::Red => "Not working",
    }
}

fn state_label(state: TargetState) -> &'static str {
    match state {
        TargetState::Failed => "Failed",
        TargetState::Parked => "Waiting for a reconnect",
        TargetState::Unconfirmed => "Not confirmed",
        TargetState::Scheduled => "Scheduled",
        TargetState::Queued | TargetState::Publishing => "Being sent",
        TargetState::Published => "Published",
        TargetState::Cancelled => "Cancelled",
    }
}

/// `2026-11-23 14:05 UTC`.
pub fn date(at: Timestamp) -> String {
    DateTime::<Utc>::from_timestamp_millis(at.as_millis())
        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| at.to_rfc3339())
}

/// `in 3 days`, `2 hours ago`, `just now`.
pub fn relative(now: Timestamp, at: Timestamp) -> String {
    let delta = at.as_millis() - now.as_millis();
    let secs = delta.abs() / 1000;
    if secs < 60 {
        return if delta >= 0 {
            "in under a minute"
        } else {
            "just now"
        }
        .to_owned();
    }
    let (n, unit) = if secs < 3_600 {
        (secs / 60, "minute")
    } else if secs < 48 * 3_600 {
        (secs / 3_600, "hour")
    } else {
        (secs / 86_400, "day")
    };
    let amount = format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    if delta >= 0 {
        format!("in {amount}")
    } else {
        format!("{amount} ago")
    }
}

fn when(now: Timestamp, at: Option<Timestamp>, never: &str) -> String {
    match at {
        Some(at) => format!(
            "<time datetime=\"{}\">{}</time> <span class=\"rel\">({})</span>",
            escape(&at.to_rfc3339()),
            escape(&date(at)),
            escape(&relative(now, at))
        ),
        None => format!("<span class=\"muted\">{}</span>", escape(never)),
    }
}

const fn rank(colour: Colour) -> u8 {
    match colour {
        Colour::Red => 0,
        Colour::Yellow => 1,
        Colour::Green => 2,
    }
}

fn form(action: &str, csrf: &str, extra: &str, button: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\"><input type=\"hidden\" name=\"csrf\" value=\"{}\">{extra}{button}</form>",
        escape(action),
        escape(csrf)
    )
}

fn connection_card(view: &PageView, c: &ConnectionView) -> String {
    let colour = c.health.colour.as_str();
    let account = escape(&c.account);
    let platform = escape(&c.platform);
    let base = format!("/page/connections/{}", c.id);
    let reconnect_class = if c.health.colour == Colour::Green {
        "secondary"
    } else {
        "primary"
    };
    let reconnect = form(
        &format!("{base}/reconnect"),
        &view.csrf,
        "",
        &format!(
            "<button type=\"submit\" class=\"{reconnect_class}\">Reconnect {account}</button>"
        ),
    );
    let disconnect = form(
        &format!("{base}/disconnect"),
        &view.csrf,
        "",
        &format!("<button type=\"submit\" class=\"danger\">Disconnect {account}</button>"),
    );
    format!(
        "<li class=\"card {colour}\" id=\"{id}\" data-connection=\"{id}\" data-health=\"{colour}\" \
         data-reason=\"{reason}\">\
         <div class=\"head\"><h3>{account} <span class=\"muted\">on {platform}</span></h3>\
         <span class=\"badge {colour}\">{label}</span></div>\
         <p class=\"reason\">{message}</p>\
         <dl>\
         <div><dt>Access expires</dt><dd>{access}</dd></div>\
         <div><dt>Connection ends</dt><dd>{grant}</dd></div>\
         <div><dt>Last refresh</dt><dd>{refresh}</dd></div>\
         <div><dt>Last checked with {platform}</dt><dd>{validated}</dd></div>\
         </dl>\
         <div class=\"actions\">{reconnect}\
         <details><summary>Disconnect…</summary><p>Evergreen stops keeping {account} connected, \
         and posts waiting for it are not sent. You can connect it again later.</p>{disconnect}\
         </details></div></li>",
        id = escape(&c.id),
        reason = escape(c.health.reason),
        label = badge_label(c.health.colour),
        message = escape(&c.health.message),
        access = when(view.now, c.access_expires_at, "Not set by the platform"),
        grant = when(view.now, c.grant_expires_at, "No fixed end"),
        refresh = when(view.now, c.last_refresh_at, "Not yet"),
        validated = when(view.now, c.last_validated_at, "Not yet"),
    )
}

fn post_card(view: &PageView, p: &PostView) -> String {
    let base = format!("/page/posts/{}", p.id);
    let mut targets = String::new();
    let mut resolve = String::new();
    for t in &p.targets {
        let state = t.state.as_str();
        targets.push_str(&format!(
            "<li data-target=\"{id}\" data-state=\"{state}\"><span class=\"state {state}\">{label}</span> \
             on {platform} ({account}){message}</li>",
            id = escape(&t.id),
            label = state_label(t.state),
            platform = escape(&t.platform),
            account = escape(&t.account),
            message = t
                .message
                .as_deref()
                .map(|m| format!(": {}", escape(m)))
                .unwrap_or_default(),
        ));
        if t.state == TargetState::Unconfirmed {
            let action = format!("{base}/targets/{}/resolve", t.id);
            let field = format!("pid_{}", escape(&t.id));
            resolve.push_str(&format!(
                "<div class=\"resolve\"><p>Look at {account} on {platform}: is the post there?</p>{again}{there}</div>",
                account = escape(&t.account),
                platform = escape(&t.platform),
                again = form(
                    &action,
                    &view.csrf,
                    "<input type=\"hidden\" name=\"outcome\" value=\"retry\">",
                    &format!(
                        "<button type=\"submit\" class=\"secondary\">Not there: send it to {} again</button>",
                        escape(&t.platform)
                    ),
                ),
                there = form(
                    &action,
                    &view.csrf,
                    &format!(
                        "<input type=\"hidden\" name=\"outcome\" value=\"published\">\
                         <label for=\"{field}\">It is there. Its id or link on {platform}:</label>\
                         <input id=\"{field}\" name=\"platform_post_id\" required maxlength=\"200\">",
                        platform = escape(&t.platform)
                    ),
                    "<button type=\"submit\" class=\"secondary\">Mark as published</button>",
                ),
            ));
        }
    }
    let retry = if p
        .targets
        .iter()
        .any(|t| matches!(t.state, TargetState::Failed | TargetState::Parked))
    {
        form(
            &format!("{base}/retry"),
            &view.csrf,
            "",
            "<button type=\"submit\" class=\"primary\">Send again where it failed</button>",
        )
    } else {
        String::new()
    };
    let excerpt: String = p.text.chars().take(280).collect();
    format!(
        "<li class=\"card post\" data-post=\"{id}\"><blockquote>{text}</blockquote>\
         <p class=\"muted\">Created {created}</p><ul class=\"targets\">{targets}</ul>\
         <div class=\"actions\">{retry}</div>{resolve}</li>",
        id = escape(&p.id),
        text = escape(&excerpt),
        created = when(view.now, Some(p.created_at), ""),
    )
}

/// The whole page.
pub fn render(view: &PageView) -> String {
    let mut connections: Vec<&ConnectionView> = view.connections.iter().collect();
    connections.sort_by_key(|c| rank(c.health.colour));
    let attention = connections
        .iter()
        .filter(|c| c.health.colour != Colour::Green)
        .count();
    let summary = match (connections.len(), attention) {
        (0, _) => {
            "No accounts are connected yet. Connect one from the app you came from.".to_owned()
        }
        (n, 0) => format!("All {n} working."),
        (n, a) => format!(
            "{a} of {n} need{} attention.",
            if a == 1 { "s" } else { "" }
        ),
    };
    let cards: String = connections
        .iter()
        .map(|c| connection_card(view, c))
        .collect();
    let posts: String = view.posts.iter().map(|p| post_card(view, p)).collect();
    let older = view
        .older_posts
        .as_deref()
        .map(|href| {
            format!(
                "<p><a class=\"more\" href=\"{}\">Older posts that need you</a></p>",
                escape(href)
            )
        })
        .unwrap_or_default();
    let posts_section = if view.posts.is_empty() {
        "<p>Nothing needs you: every post went out or is on its way.</p>".to_owned()
    } else {
        format!("<ul class=\"cards\">{posts}</ul>{older}")
    };
    let notice = view
        .notice
        .as_ref()
        .map(|n| {
            format!(
                "<p class=\"notice {}\" role=\"status\">{}</p>",
                if n.good { "good" } else { "bad" },
                escape(&n.text)
            )
        })
        .unwrap_or_default();
    format!(
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"robots\" content=\"noindex\">\
         <title>Your connected accounts · Evergreen</title><style>{STYLE}</style></head>\n\
         <body><main>\
         <header><h1>Your connected accounts</h1>\
         <p class=\"muted\">For <strong>{user}</strong> · as of {now}</p></header>\
         {notice}\
         <section aria-labelledby=\"accounts\"><h2 id=\"accounts\">Accounts</h2>\
         <p class=\"summary\">{summary}</p><ul class=\"cards\">{cards}</ul></section>\
         <section aria-labelledby=\"posts\"><h2 id=\"posts\">Posts that need you</h2>{posts_section}</section>\
         </main></body></html>\n",
        user = escape(&view.end_user_ref),
        now = escape(&date(view.now)),
        summary = escape(&summary),
    )
}

/// Colours meet WCAG AA contrast (4.5:1) for their text; focus is always visible.
const STYLE: &str = "\
*{box-sizing:border-box}body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f4f5f2;color:#1b261d}\
main{max-width:52rem;margin:0 auto;padding:1.5rem 1rem 3rem}h1{font-size:1.6rem;margin:.5rem 0 0}\
h2{font-size:1.2rem;margin:2rem 0 .5rem}h3{font-size:1.05rem;margin:0}.muted{color:#4a554c;font-weight:400}\
.cards{list-style:none;padding:0;margin:0;display:grid;gap:1rem}\
.card{background:#fff;border-radius:8px;padding:1rem 1.25rem;box-shadow:0 1px 3px #0002;border-left:6px solid #8a948b}\
.card.green{border-left-color:#1e7b34}.card.yellow{border-left-color:#b7791f}.card.red{border-left-color:#b42318}\
.head{display:flex;flex-wrap:wrap;gap:.5rem;justify-content:space-between;align-items:center}\
.badge{border-radius:999px;padding:.1rem .7rem;font-weight:600;font-size:.9rem}\
.badge.green{background:#dcf2e0;color:#14532d}.badge.yellow{background:#fdf0c8;color:#6b3d07}.badge.red{background:#fde2e0;color:#7f1d1d}\
.reason{margin:.5rem 0}dl{display:grid;grid-template-columns:repeat(auto-fit,minmax(14rem,1fr));gap:.25rem 1rem;margin:.5rem 0}\
dt{font-weight:600;font-size:.9rem}dd{margin:0}.rel{color:#4a554c}\
.actions{display:flex;flex-wrap:wrap;gap:.75rem;align-items:flex-start;margin-top:.75rem}\
button{font:inherit;border-radius:6px;padding:.4rem .9rem;cursor:pointer;border:1px solid #1b261d;background:#fff;color:#1b261d}\
button.primary{background:#1e5f2e;border-color:#1e5f2e;color:#fff}button.danger{background:#fff;border-color:#b42318;color:#8f1c13}\
button:focus-visible,summary:focus-visible,input:focus-visible{outline:3px solid #1d4ed8;outline-offset:2px}\
summary{cursor:pointer;padding:.4rem 0;color:#8f1c13}details p{margin:.25rem 0 .5rem;max-width:30rem}\
.notice{padding:.75rem 1rem;border-radius:6px;font-weight:600}.notice.good{background:#dcf2e0;color:#14532d}.notice.bad{background:#fde2e0;color:#7f1d1d}\
blockquote{margin:0;font-size:1.05rem;white-space:pre-wrap;overflow-wrap:anywhere}.targets{padding-left:1.2rem}\
.state{font-weight:600}.state.failed{color:#8f1c13}.state.parked,.state.unconfirmed{color:#6b3d07}\
.resolve{border-top:1px solid #dde2dc;margin-top:.75rem;padding-top:.5rem}.resolve form{margin:.4rem 0}\
label{display:block;font-size:.95rem;margin-bottom:.2rem}input[name=platform_post_id]{font:inherit;padding:.3rem .5rem;border:1px solid #4a554c;border-radius:4px;max-width:100%;width:20rem;margin-right:.5rem}\
@media (max-width:30rem){main{padding:1rem .5rem}.card{padding:.75rem}}";

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: Timestamp = Timestamp::from_millis(1_800_000_000_000);
    const HOUR: i64 = 3_600_000;

    fn connection(id: &str, colour: Colour, account: &str) -> ConnectionView {
        ConnectionView {
            id: id.into(),
            platform: "X".into(),
            account: account.into(),
            health: Health {
                colour,
                reason: if colour == Colour::Red {
                    "revoked"
                } else {
                    "ok"
                },
                message: "The user revoked access at the platform.".into(),
            },
            access_expires_at: Some(NOW.plus_millis(2 * HOUR)),
            grant_expires_at: None,
            last_refresh_at: Some(NOW.plus_millis(-3 * HOUR)),
            last_validated_at: None,
        }
    }

    fn view() -> PageView {
        PageView {
            end_user_ref: "user-1".into(),
            now: NOW,
            csrf: "csrf-token".into(),
            notice: None,
            connections: vec![
                connection("conn_g", Colour::Green, "@fine"),
                connection("conn_r", Colour::Red, "@<script>"),
            ],
            posts: vec![PostView {
                id: "post_1".into(),
                text: "Hello <b>world</b>".into(),
                created_at: NOW,
                targets: vec![
                    TargetView {
                        id: "tgt_1".into(),
                        platform: "X".into(),
                        account: "@fine".into(),
                        state: TargetState::Failed,
                        message: Some("X said 403.".into()),
                    },
                    TargetView {
                        id: "tgt_2".into(),
                        platform: "LinkedIn".into(),
                        account: "Ada".into(),
                        state: TargetState::Unconfirmed,
                        message: None,
                    },
                ],
            }],
            older_posts: None,
        }
    }

    #[test]
    fn older_posts_are_one_link_away_only_when_there_are_more() {
        assert!(!render(&view()).contains("Older posts"));
        let mut v = view();
        v.older_posts = Some("/page?posts_cursor=a.b&x=\"".into());
        let html = render(&v);
        assert!(
            html.contains("<a class=\"more\" href=\"/page?posts_cursor=a.b&amp;x=&quot;\">Older posts that need you</a>"),
            "{html}"
        );
    }

    #[test]
    fn problems_come_first_and_every_badge_says_its_state_in_words() {
        let html = render(&view());
        let red = html.find("data-connection=\"conn_r\"").unwrap();
        let green = html.find("data-connection=\"conn_g\"").unwrap();
        assert!(red < green, "red is listed before green");
        assert!(html.contains("<span class=\"badge red\">Not working</span>"));
        assert!(html.contains("<span class=\"badge green\">Working</span>"));
        assert!(html.contains("1 of 2 needs attention."));
        assert!(html.contains("The user revoked access at the platform."));
        assert!(html.contains("(in 2 hours)") && html.contains("(3 hours ago)"));
        assert!(html.contains("No fixed end") && html.contains("Not yet"));
    }

    #[test]
    fn everything_from_users_is_escaped_and_nothing_external_is_loaded() {
        let html = render(&view());
        assert!(!html.contains("<script>") && html.contains("@&lt;script&gt;"));
        assert!(html.contains("Hello &lt;b&gt;world&lt;/b&gt;"));
        for external in [
            "<script", "<link", "<img", "http://", "https://", "@import", "url(",
        ] {
            assert!(!html.contains(external), "{external}");
        }
    }

    #[test]
    fn every_form_posts_with_the_csrf_token_and_every_input_has_a_label() {
        let html = render(&view());
        let forms = html.matches("<form method=\"post\"").count();
        // Two per connection, one retry, two for the unconfirmed target.
        assert_eq!(forms, 2 * 2 + 1 + 2);
        assert_eq!(
            html.matches("<input type=\"hidden\" name=\"csrf\" value=\"csrf-token\">")
                .count(),
            forms
        );
        assert!(html.contains("<label for=\"pid_tgt_2\">"));
        assert!(html.contains("<input id=\"pid_tgt_2\" name=\"platform_post_id\""));
        assert!(html.contains("action=\"/page/posts/post_1/retry\""));
        assert!(html.contains("action=\"/page/posts/post_1/targets/tgt_2/resolve\""));
    }

    #[test]
    fn an_empty_page_says_what_to_do() {
        let mut v = view();
        v.connections.clear();
        v.posts.clear();
        let html = render(&v);
        assert!(html.contains("No accounts are connected yet."));
        assert!(html.contains("Nothing needs you"));
    }

    #[test]
    fn the_notice_reads_the_reconnect_result_and_the_buttons_outcome() {
        let n = notice(Some("conn_1"), None, None).unwrap();
        assert!(n.good && n.text.starts_with("Reconnected."));
        let n = notice(None, Some("access_denied"), None).unwrap();
        assert!(
            !n.good && n.text.starts_with("Could not reconnect:"),
            "{}",
            n.text
        );
        let n = notice(None, Some("<junk>"), None).unwrap();
        assert!(!n.good);
        assert_eq!(
            notice(None, None, Some("retried")).map(|n| n.good),
            Some(true)
        );
        assert_eq!(notice(None, None, Some("bogus")), None);
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.code()), Some(o));
        }
    }

    #[test]
    fn an_account_is_named_once_with_its_at_sign() {
        assert_eq!(account_label(Some("ada".into()), None, "x"), "@ada");
        assert_eq!(account_label(Some("@chan".into()), None, "x"), "@chan");
        assert_eq!(account_label(None, Some("Ada L".into()), "x"), "Ada L");
        assert_eq!(account_label(None, None, "acct_1"), "acct_1");
    }

    #[test]
    fn times_read_as_dates_and_countdowns() {
        assert_eq!(relative(NOW, NOW.plus_millis(30_000)), "in under a minute");
        assert_eq!(relative(NOW, NOW.plus_millis(-30_000)), "just now");
        assert_eq!(relative(NOW, NOW.plus_millis(60_000)), "in 1 minute");
        assert_eq!(relative(NOW, NOW.plus_millis(-47 * HOUR)), "47 hours ago");
        assert_eq!(relative(NOW, NOW.plus_millis(60 * 24 * HOUR)), "in 60 days");
        assert_eq!(date(NOW), "2027-01-15 08:00 UTC");
    }
}
