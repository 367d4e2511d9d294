//! A local stand-in for a Slack incoming webhook: an HTTP listener on a free
//! 127.0.0.1 port that keeps every JSON payload posted to it. notify posts to
//! it through its real Slack client, with the URL read from Secrets Manager.
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use axum::extract::State;
use axum::Json;
use serde_json::Value;

type Inbox = Arc<Mutex<Vec<Value>>>;

pub struct SlackListener {
    pub url: String,
    inbox: Inbox,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for SlackListener {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn receive(State(inbox): State<Inbox>, Json(payload): Json<Value>) -> &'static str {
    if let Ok(mut messages) = inbox.lock() {
        messages.push(payload);
    }
    // What Slack answers.
    "ok"
}

impl SlackListener {
    pub async fn start() -> Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .context("bind the local Slack webhook listener")?;
        let port = listener.local_addr().context("listener address")?.port();
        let inbox: Inbox = Arc::default();
        let app = axum::Router::new()
            .fallback(axum::routing::post(receive))
            .with_state(inbox.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "local Slack listener stopped");
            }
        });
        Ok(Self {
            // Shaped like a real webhook URL; the path is the "secret" part.
            url: format!("http://127.0.0.1:{port}/services/T0DEMO000/B0DEMO000/driftguard-demo"),
            inbox,
            server,
        })
    }

    /// Every payload received so far.
    pub fn messages(&self) -> Vec<Value> {
        self.inbox.lock().map(|m| m.clone()).unwrap_or_default()
    }

    pub fn count(&self) -> usize {
        self.inbox.lock().map(|m| m.len()).unwrap_or_default()
    }
}

/// The ticket id a Slack message is about (`DG-` + 12 hex digits in its text).
pub fn ticket_of(message: &Value) -> Option<String> {
    let text = message["text"].as_str()?;
    let start = text.find("DG-")?;
    let id: String = text[start..].chars().take(15).collect();
    (id.len() == 15 && id[3..].chars().all(|c| c.is_ascii_hexdigit())).then_some(id)
}

/// The ticket state a Slack message announces (`Ticket DG-… (STATE)`).
pub fn state_of(message: &Value) -> Option<String> {
    let text = message["text"].as_str()?;
    let line = text.lines().find(|l| l.starts_with("Ticket DG-"))?;
    let open = line.find('(')?;
    let close = line[open..].find(')')?;
    Some(line[open + 1..open + close].to_string())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn ticket_and_state_are_read_from_the_fallback_text() {
        let m = json!({"text": "driftguard: x\nTicket DG-0123456789ab (RESOLVED), severity high\nWhat: y"});
        assert_eq!(ticket_of(&m).as_deref(), Some("DG-0123456789ab"));
        assert_eq!(state_of(&m).as_deref(), Some("RESOLVED"));
        assert_eq!(ticket_of(&json!({"text": "no ticket"})), None);
    }

    #[tokio::test]
    async fn keeps_what_is_posted() {
        let listener = SlackListener::start().await.unwrap();
        let webhook = driftguard_core::ports::notify::WebhookUrl::parse(&listener.url).unwrap();
        let client = driftguard_adapters::slack::SlackClient::new(Default::default()).unwrap();
        let hook = driftguard_adapters::slack::SlackWebhook::new(
            std::sync::Arc::new(driftguard_core::notify::StaticWebhook(webhook)),
            client,
        );
        use driftguard_core::ports::notify::ChatWebhook;
        hook.post(&json!({"text": "hello"})).await.unwrap();
        assert_eq!(listener.messages(), vec![json!({"text": "hello"})]);
    }
}
