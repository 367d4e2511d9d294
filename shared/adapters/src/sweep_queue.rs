//! The organization sweep's queue over SQS: the scheduled run sends one
//! [`PartMessage`] per member account and region with `SendMessageBatch`,
//! ten to a call, resending only the entries that failed.
//!
//! The SDK's API docs (`aws-sdk-sqs`, `SendMessageBatch`): "You can use
//! SendMessageBatch to send up to 10 messages to the specified queue"; "The
//! result of sending each message is reported individually in the response.
//! Because the batch request can result in a combination of successful and
//! unsuccessful actions, you should check for batch errors even when the
//! call returns an HTTP status code of 200." `BatchResultErrorEntry`:
//! `SenderFault` "Specifies whether the error happened due to the caller of
//! the batch API action" (not retried).
use driftguard_core::sync::lock;
use std::sync::Mutex;

use async_trait::async_trait;
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;

use super::errors::map_sdk_error;
use driftguard_core::ports::sweep::{PartMessage, PartQueue};
use driftguard_core::resilience::{retry, RetryPolicy};
use driftguard_model::error::{PortError, PortResult};

const SQS: &str = "sqs";
const OPERATION: &str = "SendMessageBatch";
/// "up to 10 messages" a call.
pub const BATCH: usize = 10;

#[derive(Debug, Clone)]
pub struct SqsPartQueue {
    client: aws_sdk_sqs::Client,
    queue_url: String,
    retry: RetryPolicy,
}

impl SqsPartQueue {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
            retry: RetryPolicy::default(),
        }
    }

    /// One call with what is left of a batch; the entries that failed stay.
    async fn send_left(&self, left: &Mutex<Vec<(String, String)>>) -> PortResult<()> {
        let entries: Vec<SendMessageBatchRequestEntry> = lock(left)
            .iter()
            .map(|(id, body)| {
                SendMessageBatchRequestEntry::builder()
                    .id(id)
                    .message_body(body)
                    .build()
                    .map_err(|e| failed(format!("entry {id}: {e}")))
            })
            .collect::<PortResult<_>>()?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(&self.queue_url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| map_sdk_error(SQS, OPERATION, e))?;
        let failures = out.failed();
        lock(left).retain(|(id, _)| failures.iter().any(|f| f.id() == id));
        let Some(first) = failures.first() else {
            return Ok(());
        };
        let message = format!(
            "{} of the batch not sent, first {}: {} {}",
            failures.len(),
            first.id(),
            first.code(),
            first.message().unwrap_or_default()
        );
        Err(if failures.iter().any(|f| f.sender_fault()) {
            failed(message)
        } else {
            PortError::Transient {
                service: SQS,
                operation: OPERATION,
                message,
            }
        })
    }
}

fn failed(message: String) -> PortError {
    PortError::Failed {
        service: SQS,
        operation: OPERATION,
        message,
    }
}

#[async_trait]
impl PartQueue for SqsPartQueue {
    async fn send(&self, messages: &[PartMessage]) -> PortResult<()> {
        for (n, chunk) in messages.chunks(BATCH).enumerate() {
            let bodies = chunk
                .iter()
                .enumerate()
                .map(|(i, m)| {
                    serde_json::to_string(m)
                        .map(|b| (format!("part-{}", n * BATCH + i), b))
                        .map_err(|e| failed(format!("cannot serialize a part: {e}")))
                })
                .collect::<PortResult<Vec<_>>>()?;
            let left = Mutex::new(bodies);
            retry(&self.retry, "send_parts", || self.send_left(&left)).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use aws_sdk_sqs::operation::send_message_batch::{
        SendMessageBatchInput, SendMessageBatchOutput,
    };
    use aws_sdk_sqs::types::{BatchResultErrorEntry, SendMessageBatchResultEntry};
    use aws_smithy_mocks::{mock, mock_client, RuleMode};

    fn parts(n: usize) -> Vec<PartMessage> {
        (0..n)
            .map(|i| PartMessage {
                run_id: "run".into(),
                account: format!("{:012}", i + 1),
                region: "us-east-1".into(),
            })
            .collect()
    }

    fn ok(input: &SendMessageBatchInput) -> SendMessageBatchOutput {
        let mut out = SendMessageBatchOutput::builder()
            .set_failed(Some(Vec::new()))
            .set_successful(Some(Vec::new()));
        for e in input.entries() {
            out = out.successful(
                SendMessageBatchResultEntry::builder()
                    .id(e.id())
                    .message_id("m")
                    .md5_of_message_body("x")
                    .build()
                    .unwrap(),
            );
        }
        out.build().unwrap()
    }

    #[tokio::test]
    async fn twenty_five_parts_go_in_three_calls_and_only_failed_entries_are_resent() {
        let sizes = std::sync::Arc::new(Mutex::new(Vec::new()));
        let seen = sizes.clone();
        let failed_once = std::sync::atomic::AtomicBool::new(false);
        let rule = mock!(aws_sdk_sqs::Client::send_message_batch).then_compute_output(move |r| {
            seen.lock().unwrap().push(r.entries().len());
            let fail = r.entries().iter().any(|e| e.id() == "part-3")
                && !failed_once.swap(true, std::sync::atomic::Ordering::SeqCst);
            if !fail {
                return ok(r);
            }
            // One entry failed on SQS's side, the others were sent.
            let mut out = ok(&SendMessageBatchInput::builder()
                .set_entries(Some(
                    r.entries()
                        .iter()
                        .filter(|e| e.id() != "part-3")
                        .cloned()
                        .collect(),
                ))
                .build()
                .unwrap());
            out.failed = vec![BatchResultErrorEntry::builder()
                .id("part-3")
                .sender_fault(false)
                .code("InternalError")
                .build()
                .unwrap()];
            out
        });
        let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&rule]);
        let mut q = SqsPartQueue::new(client, "https://sqs/q");
        q.retry.base_delay = std::time::Duration::from_millis(1);
        q.send(&parts(25)).await.unwrap();
        assert_eq!(*sizes.lock().unwrap(), [10, 1, 10, 5]);
    }

    #[tokio::test]
    async fn a_sender_fault_is_not_retried() {
        let bad = mock!(aws_sdk_sqs::Client::send_message_batch).then_output(|| {
            SendMessageBatchOutput::builder()
                .set_successful(Some(Vec::new()))
                .failed(
                    BatchResultErrorEntry::builder()
                        .id("part-0")
                        .sender_fault(true)
                        .code("InvalidMessageContents")
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap()
        });
        let client = mock_client!(aws_sdk_sqs, RuleMode::MatchAny, [&bad]);
        let e = SqsPartQueue::new(client, "https://sqs/q")
            .send(&parts(1))
            .await
            .unwrap_err();
        assert!(!e.is_retryable());
        assert!(e.to_string().contains("InvalidMessageContents"), "{e}");
        assert_eq!(bad.num_calls(), 1);
    }
}
