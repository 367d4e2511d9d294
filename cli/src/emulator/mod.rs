//! THE moto harness: the one way driftguard's demo (`driftguard demo`), the
//! bench's scenario (`driftguard bench-scenario`, `scripts/bench`) and the
//! integration tests (`tests/`) start the emulator, reach it and provision it.
//!
//! - [`Emulator`]: a moto server on a free 127.0.0.1 port, from
//!   `.venv/emulator` (`bash scripts/setup emulator`; `MOTO_SERVER` overrides),
//!   ready once it accepts connections, stopped when dropped, and stopped when
//!   this process exits however it exits (a watchdog holds it: see
//!   [`Emulator::start`]), unless [`Emulator::detach`]ed (`demo --keep`).
//! - [`sdk_config`]: the SDK config for an emulator endpoint: the endpoint
//!   override (what `AWS_ENDPOINT_URL` does for the Lambdas), the emulator's
//!   static credentials ([`StaticCredentials`]), us-east-1, one attempt per
//!   call and driftguard's timeouts; [`environment`], the same for another
//!   process (`bench-scenario setup --start-emulator` prints it).
//! - [`resources`]: tables, buses, queues, rules routed to queues, stacks.
//! - [`deployment`] and [`provision`]: driftguard's own resources as
//!   `template.yaml` declares them.
//!
//! This module is in the `driftguard` command's crate, which no Lambda
//! depends on (`cargo tree -p detect -e normal` lists no `driftguard-cli`).
pub mod deployment;
pub mod provision;
pub mod resources;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

/// The region every emulator SDK config uses.
pub const REGION: &str = "us-east-1";
/// The account moto answers as (its default).
pub const ACCOUNT: &str = "123456789012";

/// How long a starting server may take to accept connections.
const READY_WITHIN: Duration = Duration::from_secs(30);

/// `sh -c WATCHDOG PID`: wait for stdin to close (EOF: the process holding the
/// pipe is gone, however it went), then stop the server `PID`.
const WATCHDOG: &str = r#"read -r _; kill "$0" 2>/dev/null"#;

/// A moto server: one we started (stopped on drop), or one somebody else runs.
#[derive(Debug)]
pub struct Emulator {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub endpoint: String,
    server: Option<Child>,
    /// `sh` waiting on a pipe from this process: when the process exits
    /// without dropping us (a `static` shared by tests, a kill), the pipe
    /// closes and the watchdog stops the server. Without it every test run
    /// left its servers behind.
    watchdog: Option<Child>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        // The watchdog first, so it never signals a process id reused later.
        stop(self.watchdog.take());
        stop(self.server.take());
    }
}

fn stop(child: Option<Child>) {
    if let Some(mut child) = child {
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Where the moto server is: `MOTO_SERVER`, then `.venv/emulator` in the
/// current directory or in the source tree this binary was built from, then `PATH`.
pub fn moto_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let relative = Path::new(".venv/emulator/bin/moto_server");
    [relative.to_path_buf(), workspace_root().join(relative)]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("moto_server"))
}

/// moto's server with its DynamoDB requests handled one at a time
/// (`moto_atomic.py`: moto's conditional writes are not atomic across its
/// request threads, DynamoDB's are), through the Python next to `bin`; `bin`
/// itself when there is none (a `moto_server` on `PATH`, say).
fn moto_command(bin: &Path) -> Command {
    let python = bin.with_file_name("python3");
    if !python.exists() {
        eprintln!(
            "warning: no python3 next to {}: moto runs without moto_atomic.py, so concurrent conditional DynamoDB writes may both succeed",
            bin.display()
        );
        return Command::new(bin);
    }
    let mut command = Command::new(python);
    command.args(["-c", MOTO_ATOMIC]);
    command
}

/// See `moto_atomic.py`.
const MOTO_ATOMIC: &str = include_str!("moto_atomic.py");

/// The source tree this binary was built from (the workspace root).
pub fn workspace_root() -> PathBuf {
    let cli = Path::new(env!("CARGO_MANIFEST_DIR"));
    cli.parent().unwrap_or(cli).to_path_buf()
}

/// A port nobody listens on now (the OS picks it).
pub fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("no free local port")?
        .port())
}

impl Emulator {
    /// Start a fresh moto server on a free port; ready when it accepts
    /// connections (within 30 s).
    pub fn start() -> Result<Self> {
        let port = free_port()?;
        let bin = moto_binary();
        let server = moto_command(&bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            // AdministratorAccess and the other AWS managed policies exist only with this.
            .env("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .with_context(|| {
                format!(
                    "cannot start the moto server {} (run `bash scripts/setup emulator`, or set MOTO_SERVER)",
                    bin.display()
                )
            })?;
        let watchdog = watch(server.id());
        let mut emulator = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            server: Some(server),
            watchdog,
        };
        emulator.wait_until_ready(&bin, port)?;
        Ok(emulator)
    }

    fn wait_until_ready(&mut self, bin: &Path, port: u16) -> Result<()> {
        let deadline = Instant::now() + READY_WITHIN;
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(server) = self.server.as_mut() {
                if let Ok(Some(status)) = server.try_wait() {
                    bail!("the moto server {} exited: {status}", bin.display());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "the moto server did not answer on {} within {} s",
                    self.endpoint,
                    READY_WITHIN.as_secs()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// An emulator somebody else runs (`--endpoint`): never stopped by us.
    pub fn external(endpoint: &str) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            server: None,
            watchdog: None,
        }
    }

    /// The server's process id, when we started it.
    pub fn pid(&self) -> Option<u32> {
        self.server.as_ref().map(Child::id)
    }

    /// Leave the server running after we exit (`--keep`); its process id.
    pub fn detach(mut self) -> Option<u32> {
        stop(self.watchdog.take());
        let pid = self.pid();
        // Dropping a `Child` neither kills nor waits for it.
        self.server = None;
        pid
    }

    /// The SDK config for this emulator (see [`sdk_config`]).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        sdk_config(&self.endpoint).await
    }

    /// The SDK config for this emulator with the SDK's own retry and timeout
    /// defaults (see [`sdk_config_with_sdk_retries`]).
    pub async fn sdk_config_with_sdk_retries(&self) -> aws_config::SdkConfig {
        sdk_config_with_sdk_retries(&self.endpoint).await
    }

    /// `POST /moto-api/reset`: drop all state.
    pub fn reset(&self) -> Result<()> {
        let authority = self.endpoint.trim_start_matches("http://");
        let mut stream =
            TcpStream::connect(authority).with_context(|| format!("connect to {authority}"))?;
        let request = format!(
            "POST /moto-api/reset HTTP/1.1\r\nHost: {authority}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .context("send the reset")?;
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer);
        if !(answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200")) {
            bail!("moto reset failed: {answer}");
        }
        Ok(())
    }
}

/// The watchdog of server `pid` (`None` when no `sh` could be started: the
/// server is then stopped on drop only). Its stdin is a pipe kept open by the
/// returned child until it is dropped or this process exits.
fn watch(pid: u32) -> Option<Child> {
    Command::new("sh")
        .args(["-c", WATCHDOG])
        .arg(pid.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

/// The emulator's access key id and secret (moto accepts any).
const CREDENTIAL: &str = "testing";

/// The environment another process (a Lambda binary, Cloud Custodian, the AWS
/// CLI) reaches the emulator at `endpoint` with through its SDK's own
/// configuration: static credentials, the region, and `AWS_ENDPOINT_URL`
/// ("When specified directly within a profile or as an environment variable,
/// this setting specifies the endpoint that is used for all service requests",
/// <https://docs.aws.amazon.com/sdkref/latest/guide/feature-ss-endpoints.html>).
pub fn environment(endpoint: &str) -> Vec<(&'static str, String)> {
    vec![
        ("AWS_ENDPOINT_URL", endpoint.to_string()),
        ("AWS_ACCESS_KEY_ID", CREDENTIAL.to_string()),
        ("AWS_SECRET_ACCESS_KEY", CREDENTIAL.to_string()),
        ("AWS_SESSION_TOKEN", CREDENTIAL.to_string()),
        ("AWS_DEFAULT_REGION", REGION.to_string()),
        ("AWS_REGION", REGION.to_string()),
    ]
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
            aws_credential_types::Credentials::new(CREDENTIAL, CREDENTIAL, None, None, "static"),
        ))
    }
}

/// The SDK config for an emulator endpoint with the SDK's own defaults for
/// retries and timeouts: static credentials ([`StaticCredentials`]), us-east-1,
/// and the endpoint override (what `AWS_ENDPOINT_URL` does in the Lambdas).
pub async fn sdk_config_with_sdk_retries(endpoint: &str) -> aws_config::SdkConfig {
    driftguard_adapters::config_loader()
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(
            aws_config::meta::credentials::CredentialsProviderChain::first_try(
                "emulator",
                StaticCredentials,
            ),
        )
        .load()
        .await
}

/// The SDK config for an emulator endpoint: [`sdk_config_with_sdk_retries`]
/// with one attempt per call (the calls moto lacks answer HTTP 500 at once;
/// retrying them only slows things down) and [`EMULATOR_ATTEMPT_TIMEOUT`].
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    driftguard_adapters::with_resilience(&sdk_config_with_sdk_retries(endpoint).await, 1)
        .to_builder()
        .timeout_config(emulator_timeouts())
        .build()
}

/// Per attempt and per call on the emulator: 30 s and 60 s, where the Lambdas
/// have driftguard's 5 s and 15 s (`driftguard_adapters::ATTEMPT_TIMEOUT`,
/// tested with the Lambdas' own config in `tests/integration/timeouts.rs`).
/// moto does the work of an asynchronous AWS call inside the request: its
/// `CreateStack` creates every resource before it answers, where AWS answers
/// at once ("After the call completes successfully, the stack creation
/// starts", <https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_CreateStack.html>).
/// On a busy 2-core machine, with many tests sharing one moto server, such a
/// call took more than 5 s and failed test setups that assert nothing about it.
pub const EMULATOR_ATTEMPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// Per call on the emulator (see [`EMULATOR_ATTEMPT_TIMEOUT`]).
pub const EMULATOR_OPERATION_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

fn emulator_timeouts() -> aws_config::timeout::TimeoutConfig {
    aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(driftguard_adapters::CONNECT_TIMEOUT)
        .operation_attempt_timeout(EMULATOR_ATTEMPT_TIMEOUT)
        .operation_timeout(EMULATOR_OPERATION_TIMEOUT)
        .build()
}
