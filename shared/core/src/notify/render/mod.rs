//! Pure rendering of driftguard bus events into messages people can act on:
//! the SNS subject, filterable attributes and body, and a Slack Block Kit
//! payload with a plain-text fallback. No I/O.
//!
//! - `event`: the bus events notify acts on ([`BusEvent`], [`NotifyEvent`])
//!   and the ticket facts a result does not carry ([`TicketFacts`]).
//! - `view`: everything the renderers need, pulled once from either event
//!   kind, and the words for it (what changed, who, where, what driftguard does).
//! - `sns`: the SNS subject, filterable attributes and body ([`sns_message`]).
//! - `slack`: the Block Kit payload ([`slack_message`]) and the accepted-ticket
//!   message with its codify snippet ([`accepted_slack_message`]).
//! - `plain`: the plain-text fallback ([`plain_text`]).
//! - `console`: AWS console links.
//! - `text`: shared text helpers: Slack escaping, previews, [`truncate`].
mod console;
mod event;
mod plain;
mod slack;
mod sns;
mod text;
mod view;

#[cfg(test)]
mod tests;

pub use self::console::{resource_console_url, stack_console_url};
pub use self::event::{BusEvent, EnvelopeError, NotifyEvent, TicketFacts};
pub use self::plain::plain_text;
pub use self::slack::{accepted_slack_message, codify_blocks, slack_message};
pub use self::sns::{sns_message, SnsMessage};
pub use self::text::{escape, truncate};
// For `super::accepted`, which builds its SNS message the same way.
pub(super) use self::sns::{account_region, ascii_subject};
pub(super) use self::text::or_unknown;

/// The longest SNS subject driftguard sends: 99. "Subjects must be UTF-8 text
/// with no line breaks or control characters, and less than 100 characters
/// long." (<https://docs.aws.amazon.com/sns/latest/api/API_Publish.html>)
pub const SNS_SUBJECT_MAX: usize = 99;
/// Slack: `header` blocks take at most 150 characters of plain text.
pub const SLACK_HEADER_MAX: usize = 150;
/// Slack: a `section` block's text is at most 3000 characters.
pub const SLACK_SECTION_MAX: usize = 3000;
/// Slack: each `section` field is at most 2000 characters.
pub const SLACK_FIELD_MAX: usize = 2000;
/// The fallback `text`: Slack accepts far more, but notifications show little of it.
pub const SLACK_TEXT_MAX: usize = 3000;
/// Property differences listed before "…and N more".
const MAX_DIFFERENCES_SHOWN: usize = 8;
/// One value (before or after) shown in a difference.
const VALUE_PREVIEW_MAX: usize = 240;
/// Planned calls listed before "…and N more".
const MAX_CALLS_SHOWN: usize = 5;
