//! `driftguard demo`: the whole flow on the moto emulator, no AWS account.
//!
//! 1. start moto (or use `--endpoint`);
//! 2. provision driftguard's resources as `template.yaml` declares them
//!    ([`crate::emulator::deployment`], [`crate::emulator::provision`]);
//! 3. deploy `examples/app-stack.yaml` through CloudFormation ([`app`]);
//! 4. make five changes behind CloudFormation's back: three console hot-fixes,
//!    one by the pipeline, one by break-glass;
//! 5. put their CloudTrail-shaped events on the default bus and run the real
//!    handlers over what the template's rules route to each function's queue
//!    ([`flow`]), with a live timeline and the Slack messages as a local
//!    webhook receives them ([`slack`]);
//! 6. print a summary (`report.rs`) and check the outcomes through the APIs
//!    ([`checks`]).
//!
//! The emulator, its SDK config and driftguard's resources on it come from
//! the one moto harness, [`crate::emulator`].
pub mod app;
pub mod checks;
pub mod flow;
pub mod member;
mod report;
pub mod screen;
pub mod slack;

use std::io::Write;
use std::time::Instant;

use anyhow::{Context, Result};
use aws_config::SdkConfig;
use driftguard_adapters::dynamodb::DynamoTicketStore;
use driftguard_core::config::Config;
use driftguard_core::ports::TicketStore;
use serde_json::Value;

use self::app::{AppStack, Scene};
use self::checks::Check;
use self::flow::{Functions, Runner, Tally};
use self::screen::{Screen, Tone};
use self::slack::SlackListener;
use crate::emulator::deployment::Deployment;
use crate::emulator::provision::{self, Provisioned};
use crate::emulator::Emulator;

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

/// Run the demo, writing the timeline to `out`: the numbered steps of the
/// module docs, one function each.
pub async fn run(options: &DemoOptions, out: Box<dyn Write + Send>) -> Result<DemoOutcome> {
    let started = Instant::now();
    let mut screen = Screen::new(out, options.color);
    report::intro(&mut screen);
    let emulator = start_emulator(&mut screen, options)?;
    let sdk = emulator.sdk_config().await;
    let slack = SlackListener::start().await?;
    let (deployment, provisioned) = provision_resources(&mut screen, &sdk, &slack).await?;
    let functions = wire_functions(
        &mut screen,
        options,
        &sdk,
        &provisioned.config(&deployment)?,
    )
    .await?;
    let app = deploy_app(&mut screen, &sdk).await?;
    let (scenes, member_app) = make_changes(&mut screen, options, &sdk, &app).await?;
    let tally = play(&mut screen, &sdk, &functions, &provisioned, &slack, &scenes).await?;
    let slack_messages = slack.messages();
    let store = DynamoTicketStore::new(aws_sdk_dynamodb::Client::new(&sdk), &provisioned.table);
    let tickets = store.list_tickets(None).await.context("list tickets")?;
    report::summary(
        &mut screen,
        &app,
        &scenes,
        &tally,
        &tickets,
        slack_messages.len(),
    );
    let mut checks =
        checks::verify(&sdk, &app, &provisioned.table, &tally, &slack_messages).await?;
    if let Some(member_app) = &member_app {
        checks.push(member::verify(&sdk, member_app, &provisioned.table).await?);
    }
    let passed = report::checks(&mut screen, &checks, started);
    let endpoint = emulator.endpoint.clone();
    let kept = options.keep.then(|| {
        report::kept(&mut screen, &emulator, &app);
        emulator
    });
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

/// 1. The emulator: `--endpoint`'s, or a moto server of our own.
fn start_emulator(screen: &mut Screen, options: &DemoOptions) -> Result<Emulator> {
    screen.heading("1. emulator");
    let emulator = match &options.endpoint {
        Some(endpoint) => Emulator::external(endpoint),
        None => Emulator::start()?,
    };
    let how = match (&options.endpoint, emulator.pid()) {
        (Some(_), _) => format!("using {}", emulator.endpoint),
        (None, pid) => {
            let pid = pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
            format!("started on {}{pid}", emulator.endpoint)
        }
    };
    screen.step("moto", &how, Tone::Plain);
    Ok(emulator)
}

/// 2. driftguard's resources, as template.yaml declares them.
async fn provision_resources(
    screen: &mut Screen,
    sdk: &SdkConfig,
    slack: &SlackListener,
) -> Result<(Deployment, Provisioned)> {
    screen.heading("2. driftguard's resources, as template.yaml declares them");
    let deployment = Deployment::from_builtin_template().context("read template.yaml")?;
    let provisioned = provision::provision(sdk, &deployment, &slack.url)
        .await
        .context("provision driftguard's resources on the emulator")?;
    for (label, text) in report::resources(&deployment, &provisioned, &slack.url) {
        screen.step(label, &text, Tone::Plain);
    }
    screen.say(
        "  (moto cannot invoke Lambdas: each rule targets an SQS queue, and the demo",
        Tone::Dim,
    );
    screen.say(
        "   runs the functions' own handlers on what arrives, as Lambda would.)",
        Tone::Dim,
    );
    Ok((deployment, provisioned))
}

/// detect, remediate and notify wired as their `main.rs` wires them (with
/// `--member-account`, detect and remediate reach the member through its roles).
async fn wire_functions(
    screen: &mut Screen,
    options: &DemoOptions,
    sdk: &SdkConfig,
    config: &Config,
) -> Result<Functions> {
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
        member::configs(config)
    } else {
        (config.clone(), config.clone())
    };
    Ok(Functions {
        detect: detect::wire(&detect_config, sdk)
            .await
            .context("wire detect")?,
        remediate: remediate::wire(&remediate_config, sdk)
            .await
            .context("wire remediate")?,
        notify: notify::wire(config, sdk).await.context("wire notify")?,
    })
}

/// 3. The sample application, through CloudFormation.
async fn deploy_app(screen: &mut Screen, sdk: &SdkConfig) -> Result<AppStack> {
    screen.heading("3. the sample application, through CloudFormation");
    let app = app::deploy(sdk).await?;
    let mut resources: Vec<String> = app.physical.keys().cloned().collect();
    resources.sort();
    screen.step(
        "stack",
        &format!("{} CREATE_COMPLETE (examples/app-stack.yaml)", app.name),
        Tone::Good,
    );
    screen.step("resources", &resources.join(", "), Tone::Plain);
    Ok(app)
}

/// 4. The changes behind CloudFormation's back (and the member account's).
async fn make_changes(
    screen: &mut Screen,
    options: &DemoOptions,
    sdk: &SdkConfig,
    app: &AppStack,
) -> Result<(Vec<Scene>, Option<AppStack>)> {
    screen.heading("4-6. changes behind CloudFormation's back, and what driftguard does");
    let mut scenes = app::make_changes(sdk, app).await?;
    if !options.member_account {
        return Ok((scenes, None));
    }
    let member_app = member::deploy(sdk).await?;
    screen.step(
        "member",
        &format!(
            "{} CREATE_COMPLETE in account {}",
            member_app.name,
            member::MEMBER_ACCOUNT
        ),
        Tone::Good,
    );
    scenes.push(member::console_change(sdk, &member_app).await?);
    Ok((scenes, Some(member_app)))
}

/// 5-6. Each change's event on the default bus, then the functions over
/// what the rules route to their queues, until all is quiet.
async fn play(
    screen: &mut Screen,
    sdk: &SdkConfig,
    functions: &Functions,
    provisioned: &Provisioned,
    slack: &SlackListener,
    scenes: &[Scene],
) -> Result<Tally> {
    let events = aws_sdk_eventbridge::Client::new(sdk);
    let mut runner = Runner {
        functions,
        sqs: aws_sdk_sqs::Client::new(sdk),
        provisioned,
        slack,
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
        runner.run_until_quiet(screen, &mut tally).await?;
    }
    Ok(tally)
}
