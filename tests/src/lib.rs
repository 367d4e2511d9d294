//! Integration-test helpers: a real `moto` server on a free 127.0.0.1 port and
//! AWS SDK configuration pointed at it.
//!
//! The server binary comes from `.venv/emulator` (installed by `scripts/setup`);
//! `MOTO_SERVER` overrides the path. One server is shared by all tests of a test
//! binary; tests isolate themselves with unique resource names, and
//! [`Moto::reset`] clears all state when a test needs a clean slate.
pub mod calls;
pub mod cloudtrail;
pub mod hotfix;
pub mod infra;
pub mod stacks;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

pub struct Moto {
    pub endpoint: String,
    pub port: u16,
    child: Child,
}

/// `sh -c WATCHDOG moto_server ARGS...`: start the server, wait for stdin to
/// close (EOF), then stop the server.
const WATCHDOG: &str = r#""$0" "$@" & server=$!; read -r _; kill "$server"; wait "$server""#;

impl Drop for Moto {
    fn drop(&mut self) {
        // Closing the watchdog's stdin stops the server; then reap the shell.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests crate lives in the workspace")
        .to_path_buf()
}

fn moto_binary() -> PathBuf {
    if let Ok(p) = std::env::var("MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let venv = workspace_root().join(".venv/emulator/bin/moto_server");
    if venv.exists() {
        return venv;
    }
    PathBuf::from("moto_server")
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free local port")
}

impl Moto {
    /// Start a fresh moto server (ready when it answers HTTP).
    pub fn start() -> Moto {
        let port = free_port();
        let bin = moto_binary();
        // The servers shared by a test binary live in statics, which are never
        // dropped: a watchdog shell holds the server and kills it when its stdin
        // (a pipe from this process) closes, i.e. when the test binary exits,
        // however it exits. Without it every run left its servers behind.
        let child = Command::new("sh")
            .args(["-c", WATCHDOG])
            .arg(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start moto server {}: {e}; run scripts/setup first",
                    bin.display()
                )
            });
        let endpoint = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "moto server did not start on {endpoint}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Moto {
            endpoint,
            port,
            child,
        }
    }

    /// The server shared by the tests of one area: one server per top-level
    /// test module (`detect_moto::…`, `sweep_moto::…`), as when each area was
    /// its own test binary, so one area's resources never show up in another's
    /// listings and a slow area does not queue behind the others. The area is
    /// read from the test thread's name (libtest names it after the test);
    /// a call from any other thread gets the area `""`.
    pub fn shared() -> &'static Moto {
        static SERVERS: OnceLock<Mutex<HashMap<String, &'static Moto>>> = OnceLock::new();
        let area = std::thread::current()
            .name()
            .and_then(|name| name.split("::").next())
            .unwrap_or("")
            .to_string();
        let servers = SERVERS.get_or_init(Mutex::default);
        let mut servers = servers
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        servers
            .entry(area)
            .or_insert_with(|| Box::leak(Box::new(Moto::start())))
    }

    /// AWS SDK config for this server: dummy credentials, fixed region, and the
    /// endpoint override (the same thing `AWS_ENDPOINT_URL` does in the Lambdas).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config_for(&self.endpoint).await
    }

    /// `POST /moto-api/reset`: drop all state.
    pub fn reset(&self) {
        let mut stream =
            std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect to moto");
        use std::io::{Read, Write};
        let req = format!(
            "POST /moto-api/reset HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        stream.write_all(req.as_bytes()).expect("send reset");
        let mut buf = String::new();
        let _ = stream.read_to_string(&mut buf);
        assert!(
            buf.starts_with("HTTP/1.1 200") || buf.starts_with("HTTP/1.0 200"),
            "reset failed: {buf}"
        );
    }
}

/// SDK config for an emulator endpoint, with test credentials.
pub async fn sdk_config_for(endpoint: &str) -> aws_config::SdkConfig {
    driftguard_adapters::config_loader()
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(
            aws_config::meta::credentials::CredentialsProviderChain::first_try(
                "test",
                StaticCredentials,
            ),
        )
        .load()
        .await
}

/// The emulator's fixed credentials (moto accepts any), ready at once: no
/// provider chain, no timer.
#[derive(Debug)]
pub struct StaticCredentials;

impl aws_credential_types::provider::ProvideCredentials for StaticCredentials {
    fn provide_credentials<'a>(
        &'a self,
    ) -> aws_credential_types::provider::future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        aws_credential_types::provider::future::ProvideCredentials::ready(Ok(
            aws_credential_types::Credentials::new("testing", "testing", None, None, "static"),
        ))
    }
}

/// A unique suffix for resource names, so tests sharing a server do not collide.
pub fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}
