//! The moto server the demo runs on: started on a free 127.0.0.1 port, killed
//! when dropped unless [`Emulator::detach`]ed (`--keep`).
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};

pub const REGION: &str = "us-east-1";
pub const ACCOUNT: &str = "123456789012";

#[derive(Debug)]
pub struct Emulator {
    pub endpoint: String,
    child: Option<Child>,
}

impl Drop for Emulator {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Where the moto server is: `MOTO_SERVER`, then `.venv/emulator` in the
/// current directory or in the source tree this binary was built from, then `PATH`.
pub fn moto_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("MOTO_SERVER") {
        return PathBuf::from(p);
    }
    let relative = Path::new(".venv/emulator/bin/moto_server");
    let built_from = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(relative);
    [relative.to_path_buf(), built_from]
        .into_iter()
        .find(|p| p.exists())
        .unwrap_or_else(|| PathBuf::from("moto_server"))
}

fn free_port() -> Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .context("no free local port")?
        .port())
}

impl Emulator {
    /// Start a fresh moto server; ready when it accepts connections.
    pub fn start() -> Result<Self> {
        let port = free_port()?;
        let bin = moto_binary();
        let child = Command::new(&bin)
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
        let mut emulator = Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            child: Some(child),
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Some(child) = emulator.child.as_mut() {
                if let Ok(Some(status)) = child.try_wait() {
                    bail!("the moto server {} exited: {status}", bin.display());
                }
            }
            if Instant::now() > deadline {
                bail!(
                    "the moto server did not answer on {} within 30 s",
                    emulator.endpoint
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(emulator)
    }

    /// An emulator somebody else runs (`--endpoint`): never killed by us.
    pub fn external(endpoint: &str) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            child: None,
        }
    }

    /// The server's process id, when we started it.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Leave the server running after we exit (`--keep`).
    pub fn detach(mut self) -> Option<u32> {
        let pid = self.pid();
        self.child = None;
        pid
    }
}

/// SDK config for an emulator endpoint: dummy credentials, us-east-1, one
/// attempt per call (the calls moto lacks answer HTTP 500 at once; retrying
/// them only slows the demo down), driftguard's timeouts.
pub async fn sdk_config(endpoint: &str) -> aws_config::SdkConfig {
    let base = driftguard_adapters::config_loader()
        .region(aws_config::Region::new(REGION))
        .endpoint_url(endpoint)
        .credentials_provider(aws_sdk_dynamodb::config::Credentials::new(
            "testing",
            "testing",
            None,
            None,
            "driftguard-demo",
        ))
        .load()
        .await;
    driftguard_adapters::with_resilience(&base, 1)
}
