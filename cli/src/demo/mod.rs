//! `driftguard demo`: the whole flow on the moto emulator, no AWS account.
//!
//! 1. start moto (or use `--endpoint`);
//! 2. provision driftguard's resources as `template.yaml` declares them
//!    ([`deployment`], [`provision`]);
//! 3. deploy `examples/app-stack.yaml` through CloudFormation ([`app`]);
//! 4. make five changes behind CloudFormation's back: three console hot-fixes,
//!    one by the pipeline, one by break-glass;
//! 5. put their CloudTrail-shaped events on the default bus and run the real
//!    handlers over what the template's rules route to each function's queue
//!    ([`flow`]), with a live timeline and the Slack messages as a local
//!    webhook receives them ([`slack`]);
//! 6. print a summary and check the outcomes through the APIs ([`checks`]).
pub mod app;
pub mod checks;
pub mod deployment;
pub mod emulator;
pub mod flow;
pub mod member;
pub mod provision;
pub mod screen;
pub mod slack;

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result};
use driftguard_adapters::dynamodb::DynamoTicketStore;
use driftguard_core::ports::TicketStore;
use serde_json::Value;

use self::app::Expect;
use self::checks::Check;
use self::deployment::Deployment;
use self::emulator::Emulator;
use self::flow::{Functions, Runner, Tally};
use self::screen::{cell, Screen, Tone};
use self::slack::SlackListener;

#[derive(Debug, Clone, Default)]
pub struct DemoOptions {
    /// Use this emulator instead of starting one.
    pub endpoint: Option<String>,
    /// Leave the emulator running afterwards.
    pub keep: bool,
    /// ANSI colours.
    pub color: bool,
    /// One more change, in a member account, handled centrally (issue 15).
    pub member_account: bool,
}

/// What the demo came to.
pub struct DemoOutcome {
    pub passed: bool,
    pub checks: Vec<Check>,
    pub endpoint: String,
    pub table: String,
    pub bus: String,
    /// The emulator we started, when `keep` was asked for: still running while
    /// this is alive ([`Emulator::detach`] to leave it running for good).
    pub emulator: Option<Emulator>,
    /// The payloads the local Slack webhook received.
    pub slack_messages: Vec<Value>,
}

/// Run the demo, writing the timeline to `out`.
pub async fn run(options: &DemoOptions, out: Box<dyn Write + Send>) -> Result<DemoOutcome> {
    let started = Instant::now();
    let mut screen = Screen::new(out, options.color);
    screen.say(
        "driftguard demo: console hot-fixes detected, ticketed, reverted, verified",
        Tone::Accent,
    );
    screen.say(
        "and announced, on a local AWS emulator (no AWS account).",
        Tone::Accent,
    );
    screen.blank();

    screen.heading("1. emulator");
    let emulator = match &options.endpoint {
        Some(endpoint) => {
            let e = Emulator::external(endpoint);
            screen.step("moto", &format!("using {}", e.endpoint), Tone::Plain);
            e
        }
        None => {
            let e = Emulator::start()?;
            let pid = e.pid().map(|p| format!(" (pid {p})")).unwrap_or_default();
            screen.step(
                "moto",
                &format!("started on {}{pid}", e.endpoint),
                Tone::Plain,
            );
            e
        }
    };
    let sdk = emulator::sdk_config(&emulator.endpoint).await;

    screen.heading("2. driftguard's resources, as template.yaml declares them");
    let deployment = Deployment::from_builtin_template().context("read template.yaml")?;
    let slack = SlackListener::start().await?;
    let provisioned = provision::provision(&sdk, &deployment, &slack.url)
        .await
        .context("provision driftguard's resources on the emulator")?;
    let table = &deployment.table;
    screen.step(
        "bus",
        &format!("{} (custom event bus)", provisioned.bus),
        Tone::Plain,
    );
    screen.step(
        "table",
        &format!(
            "{}: key {}, GSI {}, TTL on {}",
            provisioned.table,
            table.key.hash,
            table
                .indexes
                .iter()
                .map(|i| format!(
                    "{} ({}, {})",
                    i.name,
                    i.key.hash,
                    i.key.range.as_deref().unwrap_or("-")
                ))
                .collect::<Vec<_>>()
                .join(", "),
            table.ttl_attribute.as_deref().unwrap_or("-")
        ),
        Tone::Plain,
    );
    for rule in &deployment.rules {
        let bus = match rule.bus {
            deployment::RuleBus::Default => "default",
            deployment::RuleBus::Driftguard => provisioned.bus.as_str(),
        };
        screen.step(
            "rule",
            &format!(
                "{} on {bus} → queue driftguard-{}",
                rule.logical_id,
                rule.functions.join(", ")
            ),
            Tone::Plain,
        );
    }
    screen.step(
        "topic",
        "driftguard-alerts → SQS driftguard-alerts-inbox",
        Tone::Plain,
    );
    screen.step(
        "secret",
        &format!("driftguard/slack-webhook → {}", slack.url),
        Tone::Plain,
    );
    screen.step(
        "policy",
        &format!(
            "{} ← policy.example.yaml; DRY_RUN=false",
            provisioned.policy_parameter
        ),
        Tone::Plain,
    );
    screen.say(
        "  (moto cannot invoke Lambdas: each rule targets an SQS queue, and the demo",
        Tone::Dim,
    );
    screen.say(
        "   runs the functions' own handlers on what arrives, as Lambda would.)",
        Tone::Dim,
    );

    let config = provisioned.config(&deployment)?;
    let (detect_config, remediate_config) = if options.member_account {
        screen.step(
            "members",
            &format!(
                "account {} watched, through roles {} and {}",
                member::MEMBER_ACCOUNT,
                member::READ_ROLE,
                member::REMEDIATION_ROLE
            ),
            Tone::Plain,
        );
        member::configs(&config)
    } else {
        (config.clone(), config.clone())
    };
    let functions = Functions {
        detect: detect::wire(&detect_config, &sdk)
            .await
            .context("wire detect")?,
        remediate: remediate::wire(&remediate_config, &sdk)
            .await
            .context("wire remediate")?,
        notify: notify::wire(&config, &sdk).await.context("wire notify")?,
    };

    screen.heading("3. the sample application, through CloudFormation");
    let app = app::deploy(&sdk).await?;
    let mut resources: Vec<String> = app.physical.keys().cloned().collect();
    resources.sort();
    screen.step(
        "stack",
        &format!("{} CREATE_COMPLETE (examples/app-stack.yaml)", app.name),
        Tone::Good,
    );
    screen.step("resources", &resources.join(", "), Tone::Plain);

    screen.heading("4-6. changes behind CloudFormation's back, and what driftguard does");
    let mut scenes = app::make_changes(&sdk, &app).await?;
    let member_app = if options.member_account {
        let member_app = member::deploy(&sdk).await?;
        screen.step(
            "member",
            &format!(
                "{} CREATE_COMPLETE in account {}",
                member_app.name,
                member::MEMBER_ACCOUNT
            ),
            Tone::Good,
        );
        scenes.push(member::console_change(&sdk, &member_app).await?);
        Some(member_app)
    } else {
        None
    };
    let events = aws_sdk_eventbridge::Client::new(&sdk);
    let mut runner = Runner {
        functions: &functions,
        sqs: aws_sdk_sqs::Client::new(&sdk),
        provisioned: &provisioned,
        slack: &slack,
        slack_seen: 0,
    };
    let mut tally = Tally::default();
    for (n, scene) in scenes.iter().enumerate() {
        screen.blank();
        screen.heading(&format!("{}/{} {}", n + 1, scenes.len(), scene.title));
        screen.step(
            "changed",
            &format!("{}: {}", scene.who, scene.did),
            Tone::Warn,
        );
        app::deliver(&events, &scene.event).await?;
        screen.step(
            "delivered",
            &format!("{} (CloudTrail record) on the default bus", scene.api()),
            Tone::Dim,
        );
        runner.run_until_quiet(&mut screen, &mut tally).await?;
    }
    let slack_messages = slack.messages();

    let store = DynamoTicketStore::new(aws_sdk_dynamodb::Client::new(&sdk), &provisioned.table);
    let tickets = store.list_tickets(None).await.context("list tickets")?;
    screen.blank();
    screen.heading("summary");
    summary(
        &mut screen,
        &app,
        &scenes,
        &tally,
        &tickets,
        slack_messages.len(),
    );

    screen.blank();
    screen.heading("7. checks, through the APIs");
    let mut checks =
        checks::verify(&sdk, &app, &provisioned.table, &tally, &slack_messages).await?;
    if let Some(member_app) = &member_app {
        checks.push(member::verify(&sdk, member_app, &provisioned.table).await?);
    }
    for c in &checks {
        let (mark, tone) = if c.ok {
            ("✔", Tone::Good)
        } else {
            ("✘", Tone::Bad)
        };
        screen.say(
            &format!(" {} {}", screen.paint(mark, tone), c.what),
            Tone::Plain,
        );
        screen.detail(5, &c.detail, Tone::Dim);
    }
    let passed = checks.iter().all(|c| c.ok);
    screen.blank();
    let secs = started.elapsed().as_secs_f32();
    if passed {
        screen.say(
            &format!("demo passed: every expected outcome happened ({secs:.1} s)"),
            Tone::Good,
        );
    } else {
        let failed = checks.iter().filter(|c| !c.ok).count();
        screen.say(
            &format!("demo FAILED: {failed} expected outcome(s) did not happen ({secs:.1} s)"),
            Tone::Bad,
        );
    }

    let endpoint = emulator.endpoint.clone();
    let kept = if options.keep {
        screen.blank();
        screen.say(
            &format!("The emulator is still running on {endpoint}. Look around:"),
            Tone::Plain,
        );
        screen.say(
            &format!("  driftguard tickets list --endpoint {endpoint}"),
            Tone::Accent,
        );
        screen.say(
            &format!(
                "  driftguard tickets show {} --endpoint {endpoint}",
                checks::ticket_id(&app, "BastionSecurityGroup")
            ),
            Tone::Accent,
        );
        screen.say(
            &format!(
                "  driftguard accept {} --endpoint {endpoint}",
                checks::ticket_id(&app, "BastionSecurityGroup")
            ),
            Tone::Accent,
        );
        if let Some(pid) = emulator.pid() {
            screen.say(&format!("Stop it with: kill {pid}"), Tone::Plain);
        }
        Some(emulator)
    } else {
        None
    };
    Ok(DemoOutcome {
        passed,
        checks,
        endpoint,
        table: provisioned.table.clone(),
        bus: provisioned.bus.clone(),
        emulator: kept,
        slack_messages,
    })
}

fn summary(
    screen: &mut Screen,
    app: &app::AppStack,
    scenes: &[app::Scene],
    tally: &Tally,
    tickets: &[driftguard_model::domain::Ticket],
    slack: usize,
) {
    // 3 + 31 + 12 + 8 + 26 = 80 columns.
    screen.say(
        &format!(
            "{}{}{}{}{}",
            cell(" #", 3),
            cell("change", 31),
            cell("actor", 12),
            cell("verdict", 8),
            "ticket"
        ),
        Tone::Dim,
    );
    for (n, scene) in scenes.iter().enumerate() {
        let event_id = scene.cloudtrail_event_id();
        let detected = tally.detected.iter().find(|d| d["event_id"] == event_id);
        let actor = detected
            .and_then(|d| d.pointer("/actor/kind"))
            .and_then(Value::as_str)
            .unwrap_or("?");
        let verdict = detected
            .and_then(|d| d.pointer("/decision/verdict/action"))
            .and_then(Value::as_str)
            .unwrap_or("?");
        let account = scene.event["account"].as_str().unwrap_or_default();
        let id = checks::ticket_id_in(account, &app.name, scene.logical_id);
        let ticket = tickets
            .iter()
            .find(|t| t.id == id)
            .map_or("none".to_string(), |t| format!("{} {}", t.id, t.state));
        let want = match scene.expect {
            Expect::Reverted => "RESOLVED",
            // The allowed change leaves a closed ALLOWED record for the sweep.
            Expect::Allowed => "ALLOWED",
            Expect::TicketedNotReverted => "OPEN",
        };
        let tone = if ticket.ends_with(want) {
            Tone::Good
        } else {
            Tone::Bad
        };
        let line = format!(
            "{}{}{}{}",
            cell(&format!(" {}", n + 1), 3),
            cell(
                &format!("{} {}", scene.logical_id, scene.expect.as_str()),
                31
            ),
            cell(actor, 12),
            cell(verdict, 8),
        );
        let painted = screen.paint(&ticket, tone);
        screen.say(&format!("{line}{painted}"), Tone::Plain);
    }
    let count = |list: &[Value], pointer: &str, value: &str| {
        list.iter()
            .filter(|v| v.pointer(pointer).and_then(Value::as_str) == Some(value))
            .count()
    };
    let reverted = count(&tally.remediated, "/outcome", "resolved");
    let failed = count(&tally.remediated, "/outcome", "failed") + tally.failures.len();
    screen.blank();
    screen.say(
        &format!(
            "changes {}  tickets {}  reverted {reverted}  allowed {}  ticketed {}  failed {failed}",
            scenes.len(),
            tickets
                .iter()
                .filter(|t| t.state != driftguard_model::domain::TicketState::Allowed)
                .count(),
            count(&tally.detected, "/decision/verdict/action", "allow"),
            count(&tally.detected, "/decision/verdict/action", "ticket"),
        ),
        if failed == 0 { Tone::Good } else { Tone::Bad },
    );
    screen.say(
        &format!(
            "notifications: {slack} Slack messages, {} SNS messages, {} ticket state changes",
            tally.sns_messages,
            tally.state_changes.len()
        ),
        Tone::Plain,
    );
}
