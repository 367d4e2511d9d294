//! Where: account, region, stack and resource, with console links and which
//! account they need.
use serde_json::Value;

use super::View;
use crate::notify::render::console::{resource_console_url, stack_console_url};
use crate::notify::render::slack::field;
use crate::notify::render::text::{code, escape, link, or_unknown};

impl View<'_> {
    pub(in crate::notify::render) fn where_fields(&self) -> Vec<Value> {
        let stack = match (self.stack_name, self.stack_id) {
            (Some(name), Some(id)) => link(&stack_console_url(&self.region, id), name),
            (Some(name), None) => escape(name),
            _ => escape(&self.ownership.label()),
        };
        let physical = match self.physical_id {
            Some(id) => match self
                .resource_type
                .and_then(|t| resource_console_url(t, id, &self.region))
            {
                Some(url) => link(&url, id),
                None => format!("`{}`", code(id)),
            },
            None => "unknown".to_string(),
        };
        vec![
            field(&format!(
                "*Account*\n{}",
                escape(&or_unknown(&self.account))
            )),
            field(&format!("*Region*\n{}", escape(&or_unknown(&self.region)))),
            field(&format!("*Stack*\n{stack}")),
            field(&format!(
                "*Logical ID*\n`{}`",
                code(self.logical_id.unwrap_or("unknown"))
            )),
            field(&format!("*Physical ID*\n{physical}")),
            field(&format!(
                "*Type*\n{}",
                escape(self.resource_type.unwrap_or("unknown"))
            )),
        ]
    }

    /// Do the Where fields link to the console?
    fn has_console_links(&self) -> bool {
        self.stack_name.is_some() && self.stack_id.is_some()
            || self.physical_id.is_some_and(|id| {
                self.resource_type
                    .and_then(|t| resource_console_url(t, id, &self.region))
                    .is_some()
            })
    }

    /// `*Where*`, and with console links which account they need: a console
    /// URL names the region, never the account, so a link opens in whatever
    /// account the browser is signed in to. To reach another account one
    /// switches to a role there: "On the Switch Role page, type the account
    /// ID number or the account alias and the name of the role"
    /// (<https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_switch-role-console.html>).
    pub(in crate::notify::render) fn where_title(&self) -> String {
        if !self.has_console_links() {
            return "*Where*".to_string();
        }
        format!(
            "*Where*\nConsole links open in region `{}` of the account you are signed in to: sign in or switch role to account `{}` first.",
            code(&or_unknown(&self.region)),
            code(&or_unknown(&self.account))
        )
    }

    pub(in crate::notify::render) fn where_plain(&self) -> String {
        format!(
            "account {}, region {}, stack {}, logical id {}, physical id {} ({})",
            or_unknown(&self.account),
            or_unknown(&self.region),
            self.stack_name.unwrap_or("unknown"),
            self.logical_id.unwrap_or("unknown"),
            self.physical_id.unwrap_or("unknown"),
            self.resource_type.unwrap_or("unknown type"),
        )
    }
}
