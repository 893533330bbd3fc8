//! Pipelines, stages, steps, HTTP requests, strategies and triggers (SPEC §2).

use std::time::Duration;

use indexmap::IndexMap;

use super::keys::*;
use super::values::{Decoder, Fields};
use crate::diagnostic::{Diagnostic, did_you_mean};
use crate::span::Spanned;
use crate::types::*;
use crate::yaml::{Kind, Node};

pub(super) fn pipeline(dec: &mut Decoder, key: &Node, value: &Node) -> Option<Pipeline> {
    let name = dec.name(key, "pipeline");
    let what = format!("pipeline `{}`", key.scalar_text().unwrap_or_default());
    let f = dec.fields(value, Some(PIPELINE_KEYS), &what)?;
    let mut p = Pipeline {
        name: String::new(),
        span: key.span,
        triggers: Vec::new(),
        env: f.get("env").and_then(|n| dec.string(n)),
        stages: IndexMap::new(),
        notify: PipelineNotify::default(),
        concurrency: 1,
        fail_fast: true,
        vars: f
            .get("vars")
            .map(|n| dec.vars(n, "vars"))
            .unwrap_or_default(),
    };
    if let Some(node) = f.get("triggers") {
        let items = match &node.kind {
            Kind::Seq(items) => items.iter().collect(),
            _ => vec![node],
        };
        p.triggers = items.into_iter().filter_map(|t| trigger(dec, t)).collect();
    }
    if let Some(node) = f.get("notify")
        && let Some(n) = dec.fields(
            node,
            Some(PIPELINE_NOTIFY_KEYS),
            &format!("`notify` of {what}"),
        )
    {
        p.notify = PipelineNotify {
            on_failure: n
                .get("on_failure")
                .map(|v| dec.strings(v))
                .unwrap_or_default(),
            on_success: n
                .get("on_success")
                .map(|v| dec.strings(v))
                .unwrap_or_default(),
            on_change: n
                .get("on_change")
                .map(|v| dec.strings(v))
                .unwrap_or_default(),
            on_start: n
                .get("on_start")
                .map(|v| dec.strings(v))
                .unwrap_or_default(),
        };
    }
    if let Some(n) = f.get("concurrency").and_then(|n| dec.int(n, "at least 1")) {
        if n == 0 {
            dec.error(Diagnostic::new(
                "`concurrency` must be at least 1",
                f.get("concurrency")?.span,
            ));
        }
        p.concurrency = n;
    }
    if let Some(b) = f.get("fail_fast").and_then(|n| dec.bool(n)) {
        p.fail_fast = b;
    }
    let stages = dec.require(&f, "stages")?;
    let Kind::Map(entries) = &stages.kind else {
        dec.mismatch(stages, &format!("a mapping of the stages of {what}"));
        return None;
    };
    if entries.is_empty() {
        dec.error(Diagnostic::new(
            format!("{what} has no stages"),
            stages.span,
        ));
    }
    for (key, value) in entries {
        if let Some(s) = stage(dec, key, value) {
            p.stages.insert(s.name.clone(), s);
        }
    }
    p.name = name?;
    Some(p)
}

fn trigger(dec: &mut Decoder, node: &Node) -> Option<Spanned<Trigger>> {
    let commit_all = Trigger::Commit {
        repo: None,
        branches: Vec::new(),
        interval: DEFAULT_COMMIT_INTERVAL,
    };
    let webhook_any = Trigger::Webhook {
        secret: None,
        branches: Vec::new(),
    };
    if let Some(text) = node.scalar_text() {
        let trigger = match text {
            "manual" => Trigger::Manual,
            "webhook" => webhook_any,
            "commit" => commit_all,
            "schedule" => {
                dec.error(
                    Diagnostic::new("`schedule` needs a cron expression", node.span)
                        .with_help("write `{ schedule: \"0 0 * * *\" }`"),
                );
                return None;
            }
            other => {
                unknown_trigger(dec, other, node);
                return None;
            }
        };
        return Some(Spanned::new(trigger, node.span));
    }
    let Kind::Map(entries) = &node.kind else {
        dec.mismatch(
            node,
            "a trigger (`manual`, `webhook`, `commit`, `{ schedule: CRON }`)",
        );
        return None;
    };
    // `{ schedule: CRON, timezone: …, catch_up: … }` is the one trigger with sibling keys.
    if entries
        .iter()
        .any(|(k, _)| k.scalar_text() == Some("schedule"))
    {
        return schedule_trigger(dec, node).map(|t| Spanned::new(t, node.span));
    }
    let [(key, value)] = entries.as_slice() else {
        dec.error(Diagnostic::new(
            "a trigger mapping has exactly one key",
            node.span,
        ));
        return None;
    };
    let trigger = match key.scalar_text() {
        Some("commit") if value.is_null() => commit_all,
        Some("commit") => {
            let f = dec.fields(value, Some(COMMIT_TRIGGER_KEYS), "a commit trigger")?;
            Trigger::Commit {
                repo: f.get("repo").and_then(|n| dec.string(n)).map(|s| s.value),
                branches: f
                    .get("branches")
                    .map(|n| dec.strings(n).into_iter().map(|s| s.value).collect())
                    .unwrap_or_default(),
                interval: match f.get("interval") {
                    Some(n) => positive_interval(dec, n)?,
                    None => DEFAULT_COMMIT_INTERVAL,
                },
            }
        }
        Some("webhook") if value.is_null() => webhook_any,
        Some("webhook") => {
            let f = dec.fields(value, Some(WEBHOOK_TRIGGER_KEYS), "a webhook trigger")?;
            Trigger::Webhook {
                secret: f.get("secret").and_then(|n| dec.string(n)).map(|s| s.value),
                branches: f
                    .get("branches")
                    .map(|n| dec.strings(n).into_iter().map(|s| s.value).collect())
                    .unwrap_or_default(),
            }
        }
        Some(word @ "manual") => {
            dec.error(Diagnostic::new(
                format!("write `{word}` as a plain string"),
                key.span,
            ));
            return None;
        }
        Some(other) => {
            unknown_trigger(dec, other, key);
            return None;
        }
        None => {
            dec.mismatch(key, "a trigger kind");
            return None;
        }
    };
    Some(Spanned::new(trigger, node.span))
}

fn schedule_trigger(dec: &mut Decoder, node: &Node) -> Option<Trigger> {
    let f = dec.fields(node, Some(SCHEDULE_TRIGGER_KEYS), "a schedule trigger")?;
    let cron = dec.string(f.get("schedule")?)?;
    let mut ok = true;
    if let Err(err) = cron.value.parse::<croner::Cron>() {
        dec.error(
            Diagnostic::new(
                format!("invalid cron expression `{}`: {err}", cron.value),
                cron.span,
            )
            .with_help(
                "five fields: minute hour day-of-month month day-of-week, e.g. \"0 0 * * *\"",
            ),
        );
        ok = false;
    }
    let timezone = f.get("timezone").and_then(|n| dec.string(n));
    if let Some(tz) = &timezone
        && tz.value.parse::<chrono_tz::Tz>().is_err()
    {
        let help = match did_you_mean(&tz.value, chrono_tz::TZ_VARIANTS.iter().map(|t| t.name())) {
            Some(s) => format!("did you mean `{s}`?"),
            None => "use an IANA time zone name, e.g. `Europe/Paris` or `UTC`".to_string(),
        };
        dec.error(
            Diagnostic::new(format!("unknown time zone `{}`", tz.value), tz.span).with_help(help),
        );
        ok = false;
    }
    let catch_up = f.get("catch_up").and_then(|n| dec.bool(n)).unwrap_or(true);
    ok.then(|| Trigger::Schedule {
        cron: cron.value,
        timezone: timezone.map(|t| t.value),
        catch_up,
    })
}

fn positive_interval(dec: &mut Decoder, node: &Node) -> Option<Duration> {
    let d = dec.duration(node)?;
    if d.is_zero() {
        dec.error(
            Diagnostic::new("`interval` must be more than 0s", node.span)
                .with_help("e.g. `interval: 60s`"),
        );
        return None;
    }
    Some(d)
}

fn unknown_trigger(dec: &mut Decoder, word: &str, node: &Node) {
    let help = match did_you_mean(word, TRIGGER_KINDS.iter().copied()) {
        Some(s) => format!("did you mean `{s}`?"),
        None => format!("expected one of: {}", TRIGGER_KINDS.join(", ")),
    };
    dec.error(Diagnostic::new(format!("unknown trigger `{word}`"), node.span).with_help(help));
}

fn stage(dec: &mut Decoder, key: &Node, value: &Node) -> Option<Stage> {
    let name = dec.name(key, "stage");
    let what = format!("stage `{}`", key.scalar_text().unwrap_or_default());
    let f = dec.fields(value, Some(STAGE_KEYS), &what)?;
    let action = stage_action(dec, &f);
    let mut stage = Stage {
        name: String::new(),
        span: key.span,
        action: StageAction::Run(Vec::new()),
        needs: f.get("needs").map(|n| dec.strings(n)).unwrap_or_default(),
        timeout: DEFAULT_STAGE_TIMEOUT,
        targets: f.get("targets").and_then(|n| dec.selector(n)),
        strategy: Strategy::default(),
        env: f
            .get("env")
            .map(|n| dec.env_vars(n, &what))
            .unwrap_or_default(),
        secrets: f.get("secrets").map(|n| dec.strings(n)).unwrap_or_default(),
        retries: f.get("retries").and_then(|n| dec.u32(n)).unwrap_or(0),
        condition: f.get("if").and_then(|n| dec.template(n)),
        continue_on_error: f
            .get("continue_on_error")
            .and_then(|n| dec.bool(n))
            .unwrap_or(false),
        artifacts: f
            .get("artifacts")
            .map(|n| dec.strings(n))
            .unwrap_or_default(),
        rollback: f
            .get("rollback")
            .map(|n| dec.templates(n))
            .unwrap_or_default(),
        r#become: super::sections::escalation(dec, &f),
    };
    if let Some(t) = f.get("timeout").and_then(|n| dec.duration(n)) {
        stage.timeout = t;
    }
    if let Some(node) = f.get("strategy") {
        stage.strategy = strategy(dec, node, &what).unwrap_or_default();
    }
    stage.name = name?;
    stage.action = action?;
    Some(stage)
}

fn stage_action(dec: &mut Decoder, f: &Fields) -> Option<StageAction> {
    let present: Vec<&str> = STAGE_ACTIONS.iter().copied().filter(|k| f.has(k)).collect();
    match present.as_slice() {
        ["run"] => {
            let node = f.get("run")?;
            let commands = dec.templates(node);
            if commands.is_empty() {
                dec.error(Diagnostic::new("`run` lists no command", node.span));
            }
            Some(StageAction::Run(commands))
        }
        ["http"] => http(dec, f.get("http")?).map(StageAction::Http),
        ["steps"] => steps(dec, f.get("steps")?).map(StageAction::Steps),
        [] => {
            dec.error(
                Diagnostic::new(format!("{} does nothing", f.what), f.span)
                    .with_help("give it one of `run:`, `http:` or `steps:`"),
            );
            None
        }
        several => {
            let second = f.key_span(several[1]).unwrap_or(f.span);
            dec.error(
                Diagnostic::new(
                    format!("{} has both `{}` and `{}`", f.what, several[0], several[1]),
                    second,
                )
                .with_help("a stage is exactly one of `run:`, `http:` or `steps:`; use `steps:` to combine"),
            );
            None
        }
    }
}

fn steps(dec: &mut Decoder, node: &Node) -> Option<Vec<StageStep>> {
    let Kind::Seq(items) = &node.kind else {
        dec.mismatch(node, "a list of steps");
        return None;
    };
    let mut out = Vec::new();
    let mut ok = true;
    for item in items {
        match step(dec, item) {
            Some((name, s)) => out.push(StageStep {
                name,
                step: Spanned::new(s, item.span),
            }),
            None => ok = false,
        }
    }
    ok.then_some(out)
}

/// A step: its kind's key (exactly one), and an optional `name:` beside it.
fn step(dec: &mut Decoder, node: &Node) -> Option<(Option<Spanned<String>>, Step)> {
    let Kind::Map(all) = &node.kind else {
        dec.mismatch(node, "a step like `{ run: ... }`");
        return None;
    };
    let name = all
        .iter()
        .find(|(k, _)| k.scalar_text() == Some("name"))
        .and_then(|(_, v)| dec.string(v));
    let entries: Vec<(Node, Node)> = all
        .iter()
        .filter(|(k, _)| k.scalar_text() != Some("name"))
        .cloned()
        .collect();
    let step = step_kind(dec, node, &entries)?;
    Some((name, step))
}

fn step_kind(dec: &mut Decoder, node: &Node, entries: &[(Node, Node)]) -> Option<Step> {
    let [(key, value)] = entries else {
        dec.error(
            Diagnostic::new(
                "a step has exactly one key, its kind (and an optional `name:`)",
                node.span,
            )
            .with_help(format!("step kinds: {}", step_kinds())),
        );
        return None;
    };
    let kind = key.scalar_text().unwrap_or_default();
    if value.is_null() {
        dec.error(Diagnostic::new(format!("`{kind}` step is empty"), key.span));
        return None;
    }
    Some(match kind {
        "run" => Step::Run(dec.templates(value)),
        "http" => Step::Http(http(dec, value)?),
        "config" => Step::Config(dec.string(value)?),
        "infra" => Step::Infra(dec.choice(
            value,
            &[("plan", InfraAction::Plan), ("apply", InfraAction::Apply)],
        )?),
        "upload" => {
            let f = dec.fields(value, Some(UPLOAD_KEYS), "an `upload` step")?;
            let from = f.get("from").and_then(|n| dec.string(n));
            let source = match (f.get("src"), f.get("artifact")) {
                (Some(_), None) if from.is_some() => {
                    dec.error(Diagnostic::new(
                        "`from` names the pipeline an `artifact` comes from; it does not go with `src`",
                        from.as_ref().map(|f| f.span).unwrap_or(value.span),
                    ));
                    return None;
                }
                (Some(src), None) => UploadSource::Src(dec.template(src)?),
                (None, Some(artifact)) => UploadSource::Artifact {
                    name: dec.string(artifact)?,
                    from,
                },
                _ => {
                    dec.error(Diagnostic::new(
                        "an `upload` step takes exactly one of `src` and `artifact`",
                        value.span,
                    ));
                    return None;
                }
            };
            let dest = dec.require(&f, "dest").and_then(|n| dec.template(n));
            let mode = f.get("mode").and_then(|n| dec.mode(n));
            let owner = f.get("owner").and_then(|n| dec.string(n)).map(|s| s.value);
            Step::Upload(Upload {
                source,
                dest: dest?,
                mode,
                owner,
            })
        }
        "promote" => {
            let f = dec.fields(value, Some(PROMOTE_KEYS), "a `promote` step")?;
            let artifact = dec.require(&f, "artifact").and_then(|n| dec.string(n));
            let to = dec.require(&f, "to").and_then(|n| dec.string(n));
            Step::Promote(Promote {
                artifact: artifact?,
                to: to?,
            })
        }
        "notify" => {
            let f = dec.fields(value, Some(NOTIFY_STEP_KEYS), "a `notify` step")?;
            let channels = dec.require(&f, "channels").map(|n| dec.strings(n))?;
            let message = f.get("message").and_then(|n| dec.template(n));
            Step::Notify(NotifyStep { channels, message })
        }
        other => {
            let help = match did_you_mean(other, names(STEP_KINDS)) {
                Some(s) => format!("did you mean `{s}`?"),
                None => format!("step kinds: {}", step_kinds()),
            };
            dec.error(
                Diagnostic::new(format!("unknown step kind `{other}`"), key.span).with_help(help),
            );
            return None;
        }
    })
}

/// An HTTP request: a URL string, or a mapping of [`HTTP_KEYS`].
pub(super) fn http(dec: &mut Decoder, node: &Node) -> Option<HttpRequest> {
    let defaults = |url| HttpRequest {
        url,
        method: "GET".into(),
        headers: IndexMap::new(),
        body: None,
        timeout: Duration::from_secs(10),
        expect_status: None,
        expect_body_contains: None,
        retries: 0,
        interval: Duration::from_secs(1),
        save: None,
        cache: false,
    };
    if !matches!(node.kind, Kind::Map(_)) {
        return dec.template(node).map(defaults);
    }
    let f = dec.fields(node, Some(HTTP_KEYS), "an HTTP request")?;
    let url = dec.require(&f, "url").and_then(|n| dec.template(n));
    let mut req = defaults(Spanned::default());
    if let Some(m) = f.get("method").and_then(|n| dec.string(n)) {
        if m.value.is_empty() || !m.value.chars().all(|c| c.is_ascii_alphabetic()) {
            dec.error(Diagnostic::new(
                format!("`{}` is not an HTTP method", m.value),
                m.span,
            ));
        }
        req.method = m.value.to_ascii_uppercase();
    }
    if let Some(n) = f.get("headers") {
        req.headers = dec.string_map(n, "`headers`");
    }
    req.body = f.get("body").and_then(|n| dec.template(n)).map(|s| s.value);
    if let Some(t) = f.get("timeout").and_then(|n| dec.duration(n)) {
        req.timeout = t;
    }
    req.expect_status = f
        .get("expect_status")
        .and_then(|n| dec.int(n, "an HTTP status, 100 to 599"));
    if let (Some(status), Some(n)) = (req.expect_status, f.get("expect_status"))
        && !(100..=599).contains(&status)
    {
        dec.error(Diagnostic::new(
            format!("{status} is not an HTTP status"),
            n.span,
        ));
    }
    req.expect_body_contains = f
        .get("expect_body_contains")
        .and_then(|n| dec.string(n))
        .map(|s| s.value);
    req.retries = f.get("retries").and_then(|n| dec.u32(n)).unwrap_or(0);
    if let Some(i) = f.get("interval").and_then(|n| dec.duration(n)) {
        req.interval = i;
    }
    req.save = f.get("save").and_then(|n| dec.template(n)).map(|s| s.value);
    req.cache = f.get("cache").and_then(|n| dec.bool(n)).unwrap_or(false);
    req.url = url?;
    Some(req)
}

fn strategy(dec: &mut Decoder, node: &Node, what: &str) -> Option<Strategy> {
    let f = dec.fields(node, Some(STRATEGY_KEYS), &format!("`strategy` of {what}"))?;
    let mut s = Strategy {
        parallel: f.get("parallel").and_then(|n| dec.u32(n)),
        ..Strategy::default()
    };
    if let (Some(0), Some(n)) = (s.parallel, f.get("parallel")) {
        dec.error(Diagnostic::new("`parallel` must be at least 1", n.span));
    }
    if let Some(n) = f.get("batch") {
        s.batch = match &n.kind {
            Kind::Seq(items) => items.iter().filter_map(|i| dec.amount(i)).collect(),
            _ => dec.amount(n).into_iter().collect(),
        };
        if s.batch.contains(&Amount::Count(0)) {
            dec.error(Diagnostic::new("a batch size must be at least 1", n.span));
        }
    }
    s.max_failures = f.get("max_failures").and_then(|n| dec.amount(n));
    Some(s)
}

fn step_kinds() -> String {
    names(STEP_KINDS).collect::<Vec<_>>().join(", ")
}
