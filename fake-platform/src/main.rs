//! `fake-platform`: the fake social platform as a process, for the run command.
//!
//! Usage: `fake-platform [ADDR]` (default `127.0.0.1:8790`). The OAuth client it accepts comes
//! from `X_CLIENT_ID` and `X_CLIENT_SECRET`, the same values the worker gets from `.dev.vars`.

use evergreen_fake_platform::{Client, FakePlatform};
use std::process::ExitCode;

fn main() -> ExitCode {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8790".to_owned());
    let (Ok(id), Ok(secret)) = (
        std::env::var("X_CLIENT_ID"),
        std::env::var("X_CLIENT_SECRET"),
    ) else {
        eprintln!("fake-platform: set X_CLIENT_ID and X_CLIENT_SECRET (scripts/dev does)");
        return ExitCode::from(2);
    };
    let fake = match FakePlatform::start(&addr, &[Client { id, secret }]) {
        Ok(fake) => fake,
        Err(e) => {
            eprintln!("fake-platform: cannot listen on {addr}: {e}");
            return ExitCode::from(1);
        }
    };
    println!("fake-platform: serving X on {}", fake.base_url());
    // Serve until killed.
    loop {
        std::thread::park();
    }
}
