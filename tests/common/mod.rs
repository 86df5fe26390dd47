//! The integration harness: the real worker under `wrangler dev` (its own port and
//! `--persist-to` dir) and the fake platform on loopback. Nothing of Cloudflare is mocked.
//!
//! The worker bundle is built once before the tests (`scripts/test` runs
//! `scripts/build-worker --test`); starting `wrangler dev` here reuses it instead of building
//! while `cargo test` holds the target dir.

#![allow(dead_code)] // each test binary uses its own part of the harness

pub mod browser;
pub mod ledger;
pub mod openapi;
pub mod providers;
pub mod receiver;
pub mod tenants;
pub mod x_flow;

use evergreen_fake_platform::{Client, FakePlatform};
use serde_json::Value;
use std::fs::{self, File};
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

pub fn root() -> PathBuf {
    checkout()
}

/// The checkout the tests run in. Cargo sets `CARGO_MANIFEST_DIR` for the test process as well,
/// and that one wins over the path compiled in: with the target shared between checkouts
/// (`scripts/env.sh`), cargo may reuse a test binary another checkout of the same sources
/// compiled, which would otherwise start that checkout's worker bundle and configuration.
pub fn checkout() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn random_secret() -> String {
    let mut bytes = [0u8; 24];
    getrandom::getrandom(&mut bytes).expect("random");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 32 random bytes, base64url: one data key for `DATA_KEYS`.
pub fn data_key() -> String {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).expect("random");
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The first source the worker bundle is built from that changed after `stamp` was written,
/// if any: the same inputs `scripts/build-worker` checks before reusing a bundle.
fn newer_than(stamp: &Path) -> Option<PathBuf> {
    let built = fs::metadata(stamp).and_then(|m| m.modified()).ok()?;
    let mut pending: Vec<PathBuf> = [
        "src",
        "Cargo.toml",
        "Cargo.lock",
        ".cargo",
        "scripts/build-worker",
    ]
    .iter()
    .map(|p| root().join(p))
    .collect();
    while let Some(path) = pending.pop() {
        if path.is_dir() {
            pending.extend(
                fs::read_dir(&path)
                    .ok()?
                    .filter_map(|e| e.ok().map(|e| e.path())),
            );
        } else if fs::metadata(&path)
            .and_then(|m| m.modified())
            .is_ok_and(|t| t > built)
        {
            return Some(path);
        }
    }
    None
}

/// A local state with every D1 migration applied by `wrangler d1 migrations apply`, made once
/// per set of migrations and copied for each runtime: applying them costs a wrangler start
/// (about 5 s of CPU), and the integration binaries start about thirty runtimes side by side.
/// Keyed on what shapes it (the migrations, `wrangler.toml`'s bindings, wrangler's version in
/// `package-lock.json`); binaries racing to make it each make their own and one rename wins.
fn migrated_state() -> PathBuf {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    let mut inputs: Vec<PathBuf> = fs::read_dir(root().join("migrations"))
        .expect("migrations/")
        .map(|e| e.unwrap().path())
        .collect();
    inputs.sort();
    inputs.push(root().join("wrangler.toml"));
    inputs.push(root().join("package-lock.json"));
    for path in &inputs {
        path.file_name().hash(&mut hasher);
        fs::read(path).unwrap_or_default().hash(&mut hasher);
    }
    let parent = root().join("target/integration");
    let done = parent.join(format!("migrated-{:016x}", hasher.finish()));
    if done.join("v3").is_dir() {
        return done;
    }
    // One maker per process (a binary's tests start side by side), one directory per process.
    static MAKING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = MAKING.lock().unwrap_or_else(|e| e.into_inner());
    if done.join("v3").is_dir() {
        return done;
    }
    let making = parent.join(format!("migrating-{}", std::process::id()));
    let _ = fs::remove_dir_all(&making);
    fs::create_dir_all(&making).unwrap();
    let status = Command::new(root().join("node_modules/.bin/wrangler"))
        .args(["d1", "migrations", "apply", "DB", "--local", "--persist-to"])
        .arg(&making)
        .current_dir(root())
        .env("CI", "true")
        .env("WRANGLER_SEND_METRICS", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("wrangler runs (scripts/setup installs it)");
    assert!(status.success(), "applying the D1 migrations failed");
    if fs::rename(&making, &done).is_err() {
        // Another binary's copy won the race: the same migrations, so either will do.
        let _ = fs::remove_dir_all(&making);
    }
    assert!(
        done.join("v3").is_dir(),
        "no migrated state in {}",
        done.display()
    );
    done
}

/// Copies directory `from` into `to` (created), files and subdirectories.
fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).unwrap();
    for entry in fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).unwrap();
        }
    }
}

/// A fake platform and a worker configured to use it, with fresh secrets.
pub struct Stack {
    pub fake: FakePlatform,
    pub worker: Worker,
    pub operator_secret: String,
    pub x_client: Client,
    pub google_client: Client,
    pub linkedin_client: Client,
    /// TikTok calls its client id the client key.
    pub tiktok_client: Client,
    /// Meta's apps: one for Facebook Login, one for Instagram Login.
    pub facebook_client: Client,
    pub instagram_client: Client,
    pub reddit_client: Client,
    pub threads_client: Client,
    pub pinterest_client: Client,
}

impl Stack {
    /// Starts both; `name` keeps this binary's state apart from the others'.
    pub fn start(name: &str) -> Stack {
        Self::start_with(name, |_| Vec::new())
    }

    /// Starts both, with more variables for the worker, made from the fake's clients.
    pub fn start_with(
        name: &str,
        more_vars: impl FnOnce(&[Client]) -> Vec<(String, String)>,
    ) -> Stack {
        Self::start_configured(name, None, more_vars)
    }

    /// Starts both, the worker with `wrangler.toml` changed by `edit` (see `config_for`).
    pub fn start_configured(
        name: &str,
        edit: Option<ConfigEdit>,
        more_vars: impl FnOnce(&[Client]) -> Vec<(String, String)>,
    ) -> Stack {
        let x_client = Client {
            id: format!("x-client-{}", random_secret()),
            secret: random_secret(),
        };
        let google_client = Client {
            id: format!("{}.apps.googleusercontent.com", random_secret()),
            secret: random_secret(),
        };
        let linkedin_client = Client {
            id: format!("li{}", &random_secret()[..12]),
            secret: random_secret(),
        };
        let tiktok_client = Client {
            id: format!("aw{}", &random_secret()[..14]),
            secret: random_secret(),
        };
        let facebook_client = Client {
            id: format!("1{}", &random_secret()[..14].to_ascii_lowercase()),
            secret: random_secret(),
        };
        let instagram_client = Client {
            id: format!("9{}", &random_secret()[..14].to_ascii_lowercase()),
            secret: random_secret(),
        };
        let reddit_client = Client {
            id: format!("rd{}", &random_secret()[..14]),
            secret: random_secret(),
        };
        let threads_client = Client {
            id: format!("8{}", &random_secret()[..14].to_ascii_lowercase()),
            secret: random_secret(),
        };
        let pinterest_client = Client {
            id: format!("15{}", &random_secret()[..10].to_ascii_lowercase()),
            secret: random_secret(),
        };
        let clients = [
            x_client.clone(),
            google_client.clone(),
            linkedin_client.clone(),
            tiktok_client.clone(),
            facebook_client.clone(),
            instagram_client.clone(),
            reddit_client.clone(),
            threads_client.clone(),
            pinterest_client.clone(),
        ];
        let fake = FakePlatform::start("127.0.0.1:0", &clients).expect("the fake platform starts");
        // Bluesky's client key: the worker signs client assertions with it, the fake checks.
        let bluesky_key =
            evergreen::core::crypto::es256::Es256Key::generate().expect("a P-256 key");
        fake.set_bluesky_client_key(bluesky_key.public_jwk());
        let operator_secret = random_secret();
        let vars = vec![
            ("OPERATOR_SECRET".to_owned(), operator_secret.clone()),
            ("FAKE_PLATFORM_URL".to_owned(), fake.base_url()),
            ("X_CLIENT_ID".to_owned(), x_client.id.clone()),
            ("X_CLIENT_SECRET".to_owned(), x_client.secret.clone()),
            ("YOUTUBE_CLIENT_ID".to_owned(), google_client.id.clone()),
            (
                "YOUTUBE_CLIENT_SECRET".to_owned(),
                google_client.secret.clone(),
            ),
            ("LINKEDIN_CLIENT_ID".to_owned(), linkedin_client.id.clone()),
            (
                "LINKEDIN_CLIENT_SECRET".to_owned(),
                linkedin_client.secret.clone(),
            ),
            ("TIKTOK_CLIENT_ID".to_owned(), tiktok_client.id.clone()),
            (
                "TIKTOK_CLIENT_SECRET".to_owned(),
                tiktok_client.secret.clone(),
            ),
            ("FACEBOOK_CLIENT_ID".to_owned(), facebook_client.id.clone()),
            (
                "FACEBOOK_CLIENT_SECRET".to_owned(),
                facebook_client.secret.clone(),
            ),
            (
                "INSTAGRAM_CLIENT_ID".to_owned(),
                instagram_client.id.clone(),
            ),
            (
                "INSTAGRAM_CLIENT_SECRET".to_owned(),
                instagram_client.secret.clone(),
            ),
            ("REDDIT_CLIENT_ID".to_owned(), reddit_client.id.clone()),
            (
                "REDDIT_CLIENT_SECRET".to_owned(),
                reddit_client.secret.clone(),
            ),
            ("THREADS_CLIENT_ID".to_owned(), threads_client.id.clone()),
            (
                "THREADS_CLIENT_SECRET".to_owned(),
                threads_client.secret.clone(),
            ),
            (
                "PINTEREST_CLIENT_ID".to_owned(),
                pinterest_client.id.clone(),
            ),
            (
                "PINTEREST_CLIENT_SECRET".to_owned(),
                pinterest_client.secret.clone(),
            ),
            (
                "BLUESKY_CLIENT_SECRET".to_owned(),
                format!("evergreen-k1:{}", bluesky_key.secret()),
            ),
            ("DATA_KEYS".to_owned(), format!("k1:{}", data_key())),
            // A grant object's buffered token reads reach D1 a second after the first (the
            // alarm's delay; 10 s by default), so tests that read `token_reads` wait less.
            ("TOKEN_AUDIT_FLUSH_SECONDS".to_owned(), "1".to_owned()),
        ];
        let more = more_vars(&clients);
        let mut vars = vars;
        // A variable the caller names replaces the default above.
        vars.retain(|(name, _)| !more.iter().any(|(n, _)| n == name));
        vars.extend(more);
        let worker = Worker::start(name, vars, edit);
        Stack {
            fake,
            worker,
            operator_secret,
            x_client,
            google_client,
            linkedin_client,
            tiktok_client,
            facebook_client,
            instagram_client,
            reddit_client,
            threads_client,
            pinterest_client,
        }
    }

    /// `Authorization` header value for the operator.
    pub fn operator(&self) -> String {
        format!("Bearer {}", self.operator_secret)
    }
}

/// An HTTP answer: status, headers we care about, JSON body (`Null` if not JSON).
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub content_type: String,
    pub allow: Option<String>,
    pub retry_after: Option<String>,
    pub body: Value,
}

pub struct Worker {
    pub base_url: String,
    port: u16,
    persist: PathBuf,
    log: PathBuf,
    env_file: PathBuf,
    /// The build flavour wrangler dev serves (`EVERGREEN_BUILD`).
    flavour: String,
    /// The wrangler configuration it runs with, relative to the checkout (`config_for`).
    config: String,
    runtime: Option<Runtime>,
    agent: ureq::Agent,
}

/// The `wrangler dev` process group and the watchdog that kills it if this process dies.
struct Runtime {
    process: Child,
    /// Closing this (our exit, however it happens) makes the watchdog kill the group.
    _watchdog_stdin: ChildStdin,
    watchdog: Child,
}

/// How wrangler's dev proxy begins its answer when it lost the request (`Worker::call`).
const PROXY_LOST_CONNECTION: &str = "Your worker restarted mid-request.";
/// The most times a request the proxy lost is sent.
const PROXY_ATTEMPTS: usize = 3;

/// Whether attempt `attempt` (from 1) of `what` is to be sent again: its answer is wrangler's
/// proxy saying it lost the request, and attempts are left (`Worker::call` says why).
pub fn lost_by_proxy(what: &str, attempt: usize, status: u16, body: &str) -> bool {
    let again =
        status == 503 && body.starts_with(PROXY_LOST_CONNECTION) && attempt < PROXY_ATTEMPTS;
    if again {
        eprintln!("{what}: wrangler's proxy lost its connection; sent again");
    }
    again
}

/// A change to `wrangler.toml` that one runtime starts with (its text in, the changed text out).
pub type ConfigEdit = fn(&str) -> String;

/// `text` without the TOML table `[name]` (its header and its keys, up to the next table).
fn without_table(text: &str, name: &str) -> String {
    let header = format!("[{name}]");
    assert!(
        text.lines().any(|l| l.trim() == header),
        "wrangler.toml's {header} table was not found"
    );
    let mut out = String::new();
    let mut inside = false;
    for line in text.lines() {
        if line.starts_with('[') {
            inside = line.trim() == header;
        }
        if !inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The wrangler configuration a runtime runs with, `wrangler.NAME.toml`, written here from
/// `wrangler.toml`:
/// - without the `[build]` table: the tests build the worker once before any runtime starts
///   (`scripts/test`, `Worker::start` checks), so no runtime runs the build command or watches
///   the sources. A watcher that fires reloads the worker, and wrangler answers a request
///   that was in flight with `503 Your worker restarted mid-request` (`Worker::call`);
/// - the bench build also runs without the `[assets]` table, so the benches time the worker
///   alone. Locally, static assets put a router worker in front of every request, on the same
///   two cores, which slows every route alike (the no-op route by a quarter) and would hide
///   the cost of the worker's own paths;
/// - `edit`, when given, changes it further (`Stack::start_configured`).
fn config_for(flavour: &str, name: &str, edit: Option<ConfigEdit>) -> String {
    let full = fs::read_to_string(root().join("wrangler.toml")).expect("wrangler.toml");
    let mut out = without_table(&full, "build");
    if flavour == "bench" {
        out = without_table(&out, "assets");
    }
    if let Some(edit) = edit {
        out = edit(&out);
    }
    let file = format!("wrangler.{name}.toml");
    let temporary = root().join(format!("{file}.{}", std::process::id()));
    fs::write(&temporary, out).unwrap();
    fs::rename(&temporary, root().join(&file)).unwrap();
    file
}

impl Worker {
    fn start(name: &str, vars: Vec<(String, String)>, edit: Option<ConfigEdit>) -> Worker {
        // The test build, unless the bench asks for its own (`EVERGREEN_BUILD=bench`).
        let want = std::env::var("EVERGREEN_BUILD").unwrap_or_else(|_| "test".to_owned());
        let flavour =
            fs::read_to_string(root().join("build/.evergreen-flavour")).unwrap_or_default();
        assert!(
            flavour.starts_with(&format!("{want} ")),
            "build/ holds no {want} build of the worker: run `scripts/test`, or \
             `scripts/build-worker --{want}` before `cargo test --test '*'`"
        );
        if let Some(newer) = newer_than(&root().join("build/.evergreen-flavour")) {
            panic!(
                "the {want} bundle in build/ is older than {}: run `scripts/build-worker --{want}` \
                 (scripts/test does)",
                newer.display()
            );
        }
        // This run's state and log stay for inspection until the next run of the same binary.
        let parent = root().join("target/integration");
        if let Ok(entries) = fs::read_dir(&parent) {
            for old in entries.flatten() {
                if old
                    .file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{name}-"))
                {
                    let _ = fs::remove_dir_all(old.path());
                }
            }
        }
        let dir = parent.join(format!("{name}-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let persist = dir.join("state");
        // The worker's secrets and variables, as a .env file wrangler loads instead of the
        // developer's own .dev.vars.
        let env_file = dir.join("worker.env");
        let port = free_port();
        let mut f = File::create(&env_file).unwrap();
        // The links Evergreen puts in webhooks point at this worker.
        writeln!(f, "PUBLIC_BASE_URL=http://127.0.0.1:{port}").unwrap();
        for (k, v) in &vars {
            writeln!(f, "{k}={v}").unwrap();
        }
        copy_dir(&migrated_state(), &persist);
        let mut worker = Worker {
            base_url: format!("http://127.0.0.1:{port}"),
            port,
            persist,
            log: dir.join("wrangler.log"),
            env_file,
            config: config_for(&want, name, edit),
            flavour: want,
            runtime: None,
            agent: ureq::AgentBuilder::new()
                .redirects(0)
                .timeout(Duration::from_secs(60))
                .build(),
        };
        // A port found free can be taken by another process before wrangler binds it (the
        // binaries start runtimes side by side): then this one starts again on fresh ports.
        let mut attempt = 0;
        loop {
            attempt += 1;
            match worker.try_launch() {
                Ok(()) => break,
                Err(log) if attempt < 3 && log.contains("Address already in use") => {
                    eprintln!("{name}: a port was taken before wrangler bound it; starting again");
                    worker.kill9();
                    worker.port = free_port();
                    worker.base_url = format!("http://127.0.0.1:{}", worker.port);
                    worker.set_var("PUBLIC_BASE_URL", &worker.base_url.clone());
                }
                Err(log) => panic!("{log}"),
            }
        }
        worker
    }

    fn launch(&mut self) {
        if let Err(log) = self.try_launch() {
            panic!("{log}");
        }
    }

    /// Starts wrangler dev and waits until the worker answers; `Err` with what wrangler said
    /// when it exited first.
    fn try_launch(&mut self) -> Result<(), String> {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let process = Command::new(root().join("node_modules/.bin/wrangler"))
            .args([
                "dev",
                "--ip",
                "127.0.0.1",
                "--show-interactive-dev-session=false",
                // `/__scheduled` runs a cron trigger (see run_cron).
                "--test-scheduled",
            ])
            .args(["--config", &self.config])
            .args(["--port", &self.port.to_string()])
            .args(["--inspector-port", &free_port().to_string()])
            .arg("--persist-to")
            .arg(&self.persist)
            .arg("--env-file")
            .arg(&self.env_file)
            .current_dir(root())
            .env("EVERGREEN_BUILD", &self.flavour)
            .env("WRANGLER_SEND_METRICS", "false")
            // A test changes its configuration only between runs (`Worker::restart`).
            .env("WRANGLER_CI_DISABLE_CONFIG_WATCHING", "true")
            .env("CLOUDFLARE_CF_FETCH_ENABLED", "false")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("wrangler dev starts");
        let group = process.id();
        let mut watchdog = Command::new("sh")
            .args(["-c", r#"read _; kill -KILL "-$1" 2>/dev/null"#, "watchdog"])
            .arg(group.to_string())
            .stdin(Stdio::piped())
            .spawn()
            .expect("sh runs");
        let stdin = watchdog.stdin.take().unwrap();
        self.runtime = Some(Runtime {
            process,
            _watchdog_stdin: stdin,
            watchdog,
        });
        self.wait_until_ready()
    }

    fn wait_until_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Ok(r) = self.agent.get(&format!("{}/healthz", self.base_url)).call() {
                if r.status() == 200 {
                    return Ok(());
                }
            }
            let runtime = self.runtime.as_mut().unwrap();
            if let Ok(Some(status)) = runtime.process.try_wait() {
                return Err(format!(
                    "wrangler dev exited ({status}) before it was ready:\n{}",
                    self.log_tail()
                ));
            }
            assert!(
                Instant::now() < deadline,
                "wrangler dev not ready in 120 s:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100)); // polling a process we do not control
        }
    }

    /// Kills the whole runtime (wrangler and workerd) with SIGKILL, as a crash would.
    pub fn kill9(&mut self) {
        if let Some(mut runtime) = self.runtime.take() {
            let group = runtime.process.id();
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{group}")])
                .status();
            let _ = runtime.process.wait();
            let _ = runtime.watchdog.kill();
            let _ = runtime.watchdog.wait();
        }
    }

    /// The value the worker is started with for variable or secret `key`.
    pub fn var(&self, key: &str) -> Option<String> {
        fs::read_to_string(&self.env_file)
            .ok()?
            .lines()
            .find_map(|line| line.strip_prefix(&format!("{key}=")).map(str::to_owned))
    }

    /// Sets variable or secret `key` for the next start ([`Worker::restart`]).
    pub fn set_var(&mut self, key: &str, value: &str) {
        let text = fs::read_to_string(&self.env_file).unwrap();
        let mut lines: Vec<String> = text
            .lines()
            .filter(|line| !line.starts_with(&format!("{key}=")))
            .map(str::to_owned)
            .collect();
        lines.push(format!("{key}={value}"));
        fs::write(&self.env_file, lines.join("\n") + "\n").unwrap();
    }

    /// Starts the runtime again on the same port and state.
    pub fn restart(&mut self) {
        self.kill9();
        self.launch();
    }

    pub fn persist_dir(&self) -> &Path {
        &self.persist
    }

    /// The wrangler configuration this runtime runs with.
    pub fn config_path(&self) -> PathBuf {
        root().join(&self.config)
    }

    /// Everything the runtime printed so far: wrangler's and the worker's log lines.
    pub fn log_text(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub fn log_tail(&self) -> String {
        let text = self.log_text();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Sends a request; any status is an answer, only a transport failure is an error.
    ///
    /// wrangler's dev proxy answers `503 Your worker restarted mid-request` when it loses its
    /// pooled connection to the worker's runtime. Nothing restarted: kj's client and server
    /// both drop a connection idle for 5 s, and a request written to it as both timers fire is
    /// lost before the worker sees it (cloudflare/workers-sdk#14641; a connection left idle
    /// through a request of 10 s or more hits it nearly every time). The proxy resends a GET or
    /// HEAD itself and answers anything else with that 503, so this sends it again, as the
    /// answer asks: the worker never ran it. Production has no such proxy.
    pub fn call(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: Option<&Value>,
    ) -> Result<Answer, String> {
        let what = format!("{method} {path}");
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self
                .agent
                .request(method, &format!("{}{path}", self.base_url));
            if let Some(auth) = authorization {
                req = req.set("Authorization", auth);
            }
            let result = match body {
                Some(body) => req.send_json(body.clone()),
                None => req.call(),
            };
            let response = match result {
                Ok(r) => r,
                Err(ureq::Error::Status(_, r)) => r,
                Err(ureq::Error::Transport(t)) => return Err(t.to_string()),
            };
            let status = response.status();
            let content_type = response.header("content-type").unwrap_or("").to_owned();
            let allow = response.header("allow").map(str::to_owned);
            let retry_after = response.header("retry-after").map(str::to_owned);
            let text = response.into_string().unwrap_or_default();
            if lost_by_proxy(&what, attempt, status, &text) {
                continue;
            }
            return Ok(Answer {
                status,
                content_type,
                allow,
                retry_after,
                body: serde_json::from_str(&text).unwrap_or(Value::Null),
            });
        }
    }

    pub fn get(&self, path: &str, authorization: Option<&str>) -> Answer {
        self.call("GET", path, authorization, None)
            .expect("the worker answers")
    }

    pub fn send(
        &self,
        method: &str,
        path: &str,
        authorization: Option<&str>,
        body: &Value,
    ) -> Answer {
        self.call(method, path, authorization, Some(body))
            .expect("the worker answers")
    }

    /// Runs a cron trigger the way the platform would (locally nothing fires them).
    pub fn run_cron(&self, cron: &str) {
        let path = format!("/__scheduled?cron={}", cron.replace(' ', "+"));
        let answer = self.get(&path, None);
        assert_eq!(answer.status, 200, "scheduled handler: {answer:?}");
    }

    /// The summary cron `job` (`sweep`, `dispatch`) recorded for its last run, from `/healthz`.
    pub fn last_cron_summary(&self, job: &str) -> Value {
        let health = self.get("/healthz", None).body;
        let text = health["crons"][job]["last_outcome"]
            .as_str()
            .unwrap_or_else(|| {
                panic!("no {job} run recorded: {health}");
            });
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{job}'s summary {text:?}: {e}"))
    }

    /// Polls `probe` until it returns `Some`, or fails after `timeout`. For work the worker does
    /// asynchronously (queue consumers): there is no event to wait on from outside.
    pub fn eventually<T>(
        &self,
        timeout: Duration,
        what: &str,
        mut probe: impl FnMut() -> Option<T>,
    ) -> T {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(value) = probe() {
                return value;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}:\n{}",
                self.log_tail()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// Every `table.column` of the worker's local D1 database holding a value that contains
/// `needle`, with how many rows: read straight from the SQLite file (read-only) with Python's
/// `sqlite3`, so it sees every table, whatever the worker's code thinks belongs to whom.
pub fn d1_cells_containing(persist: &Path, needle: &str) -> Vec<String> {
    let dir = persist.join("v3/d1/miniflare-D1DatabaseObject");
    let file = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| {
            p.extension().is_some_and(|e| e == "sqlite")
                && p.file_name().is_some_and(|n| n != "metadata.sqlite")
        })
        .expect("the local D1 database file");
    const SCAN: &str = r#"
import sqlite3, sys
db = sqlite3.connect("file:" + sys.argv[1] + "?mode=ro", uri=True)
needle = sys.argv[2]
for (table,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
    if table.startswith(("sqlite_", "_cf_", "d1_")):
        continue
    for column in [c[1] for c in db.execute(f'PRAGMA table_info("{table}")')]:
        q = f'SELECT COUNT(*) FROM "{table}" WHERE instr(CAST("{column}" AS TEXT), ?) > 0'
        n = db.execute(q, (needle,)).fetchone()[0]
        if n:
            print(f"{table}.{column}={n}")
"#;
    let out = Command::new("python3")
        .args(["-c", SCAN])
        .arg(&file)
        .arg(needle)
        .output()
        .expect("python3 runs (scripts/setup installs it)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Every file under `dir` whose bytes contain `needle`.
pub fn files_containing(dir: &Path, needle: &str) -> Vec<String> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).unwrap().map(|e| e.unwrap().path()));
        } else if let Ok(bytes) = std::fs::read(&path) {
            if bytes.windows(needle.len()).any(|w| w == needle.as_bytes()) {
                hits.push(path.display().to_string());
            }
        }
    }
    hits
}
