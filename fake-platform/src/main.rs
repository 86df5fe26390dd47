//! `fake-platform`: the fake social platform as a process, for the run command.
//!
//! Usage: `fake-platform [ADDR]` (default `127.0.0.1:8790`). `FAKE_PLATFORM_DELAY_MS` makes every
//! platform answer wait that long, as a real platform's latency would. The OAuth clients it accepts come
//! from `X_CLIENT_ID`/`X_CLIENT_SECRET` (required) and the optional `YOUTUBE_`, `LINKEDIN_`,
//! `TIKTOK_`, `FACEBOOK_`, `INSTAGRAM_`, `REDDIT_`, `THREADS_` and `PINTEREST_` pairs, the same
//! values the worker gets from `.dev.vars`. For the demo, `demo_user` administers one LinkedIn
//! company page and two Facebook Pages, and has a Pinterest board; `mastodon.social` and
//! `fosstodon.org` are Mastodon servers (a server registers its apps itself), and
//! `demo-user.bsky.social` is a Bluesky account (the client key from `BLUESKY_CLIENT_SECRET`).

use evergreen_fake_platform::{Client, FakePlatform};
use std::process::ExitCode;

fn client(prefix: &str) -> Option<Client> {
    let id = std::env::var(format!("{prefix}_CLIENT_ID")).ok()?;
    let secret = std::env::var(format!("{prefix}_CLIENT_SECRET")).ok()?;
    Some(Client { id, secret })
}

fn main() -> ExitCode {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8790".to_owned());
    let Some(x) = client("X") else {
        eprintln!("fake-platform: set X_CLIENT_ID and X_CLIENT_SECRET (scripts/dev does)");
        return ExitCode::from(2);
    };
    let clients: Vec<Client> = std::iter::once(x)
        .chain(
            [
                "YOUTUBE",
                "LINKEDIN",
                "TIKTOK",
                "FACEBOOK",
                "INSTAGRAM",
                "REDDIT",
                "THREADS",
                "PINTEREST",
            ]
            .into_iter()
            .filter_map(client),
        )
        .collect();
    let fake = match FakePlatform::start(&addr, &clients) {
        Ok(fake) => fake,
        Err(e) => {
            eprintln!("fake-platform: cannot listen on {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    let delay_ms = std::env::var("FAKE_PLATFORM_DELAY_MS").unwrap_or_default();
    if !delay_ms.is_empty() {
        let Ok(ms) = delay_ms.trim().parse::<u64>() else {
            eprintln!("fake-platform: FAKE_PLATFORM_DELAY_MS must be whole milliseconds");
            return ExitCode::from(2);
        };
        fake.set_answer_delay(std::time::Duration::from_millis(ms));
    }
    fake.add_linkedin_organization("demo_user", "Evergreen Demo Company");
    fake.add_facebook_page("demo_user", "Evergreen Demo Bakery");
    fake.add_facebook_page("demo_user", "Evergreen Demo Cafe");
    fake.add_pinterest_board("demo_user", "Evergreen Demo Recipes");
    fake.add_mastodon_server("mastodon.social");
    fake.add_mastodon_server("fosstodon.org");
    // Bluesky: the worker's client key (`BLUESKY_CLIENT_SECRET`, `kid:d`), and a demo account
    // whose handle is `demo-user.bsky.social`.
    if let Ok(secret) = std::env::var("BLUESKY_CLIENT_SECRET") {
        let d = secret.split_once(':').map_or(secret.as_str(), |(_, d)| d);
        if !fake.set_bluesky_client_secret(d) {
            eprintln!("fake-platform: BLUESKY_CLIENT_SECRET is not `kid:key` (a P-256 key)");
        }
    }
    fake.add_bluesky_account("demo-user");
    println!(
        "fake-platform: serving X, Google, LinkedIn, TikTok, Facebook and Instagram on {}",
        fake.base_url()
    );
    // Serve until killed.
    loop {
        std::thread::park();
    }
}
