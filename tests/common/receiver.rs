//! The loopback webhook receiver (`tests/support/webhook-receiver.mjs`): verifies every
//! delivery with the official `standardwebhooks` package and records what it received.

use super::root;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

pub struct Receiver {
    child: Child,
    pub base_url: String,
    agent: ureq::Agent,
}

/// One delivery attempt as the receiver saw it.
#[derive(Clone, Debug)]
pub struct Received {
    pub name: String,
    pub webhook_id: String,
    pub body: String,
    pub answered: u16,
    /// The `webhook-signature` header as sent.
    pub signature: String,
    /// Verified with the receiver's own secret (the first one set).
    pub verified: bool,
    /// Each secret set for this name, in order: whether it verified the delivery.
    pub verified_by: Vec<bool>,
    pub error: Option<String>,
}

impl Received {
    /// Verified with the endpoint's secret and accepted (204).
    pub fn delivered(&self) -> bool {
        self.verified && self.answered == 204
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).expect("a JSON body")
    }
}

impl Receiver {
    pub fn start() -> Receiver {
        let mut child = Command::new("node")
            .arg(root().join("tests/support/webhook-receiver.mjs"))
            .current_dir(root())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs the receiver");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("the receiver says where it listens");
        let port = line
            .trim()
            .strip_prefix("listening ")
            .unwrap_or_else(|| panic!("unexpected receiver output {line:?}"));
        Receiver {
            child,
            base_url: format!("http://127.0.0.1:{port}"),
            agent: ureq::AgentBuilder::new().build(),
        }
    }

    /// The URL an endpoint named `name` registers.
    pub fn url(&self, name: &str) -> String {
        format!("{}/hooks/{name}", self.base_url)
    }

    pub fn set_secret(&self, name: &str, secret: &str) {
        self.set_secrets(name, &[secret]);
    }

    /// Several secrets for `name`: the first is the receiver's own, and every delivery records
    /// which of them verify it (`Received::verified_by`).
    pub fn set_secrets(&self, name: &str, secrets: &[&str]) {
        self.agent
            .put(&format!("{}/control/secret/{name}", self.base_url))
            .send_string(&secrets.join(" "))
            .expect("the receiver takes the secrets");
    }

    pub fn set_down(&self, down: bool) {
        self.agent
            .put(&format!("{}/control/down", self.base_url))
            .send_string(if down { "true" } else { "false" })
            .expect("the receiver takes the switch");
    }

    pub fn received(&self) -> Vec<Received> {
        let list: Vec<Value> = self
            .agent
            .get(&format!("{}/control/received", self.base_url))
            .call()
            .expect("the receiver answers")
            .into_json()
            .expect("JSON");
        list.into_iter()
            .map(|v| Received {
                name: v["name"].as_str().unwrap_or_default().to_owned(),
                webhook_id: v["webhook_id"].as_str().unwrap_or_default().to_owned(),
                body: v["body"].as_str().unwrap_or_default().to_owned(),
                answered: v["answered"].as_u64().unwrap_or(0) as u16,
                signature: v["signature"].as_str().unwrap_or_default().to_owned(),
                verified: v["verified"].as_bool().unwrap_or(false),
                verified_by: v["verified_by"]
                    .as_array()
                    .map(|a| a.iter().map(|b| b.as_bool() == Some(true)).collect())
                    .unwrap_or_default(),
                error: v["error"].as_str().map(str::to_owned),
            })
            .collect()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
