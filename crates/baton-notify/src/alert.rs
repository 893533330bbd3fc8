//! Alert notices from the monitor: an alert firing, resolving or repeating on one node.

use baton_model::Project;
use baton_store::{DeliveryId, Store};
use serde_json::json;

use crate::NotifyError;
use crate::message::{Message, human_time, link};

/// One alert transition on one node, as the monitor saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertNotice {
    pub alert: String,
    pub node: String,
    /// `false` = resolved.
    pub firing: bool,
    /// `info` | `warning` | `critical`.
    pub severity: String,
    /// `cpu above 80` | `check api_up failing`.
    pub condition: String,
    /// The value that crossed (`None` for checks).
    pub value: Option<f64>,
    /// E.g. a check's failure reason.
    pub detail: Option<String>,
    /// Unix ms the condition became true.
    pub since: i64,
    /// Unix ms of this transition.
    pub at: i64,
    /// A `repeat` re-send while firing.
    pub repeat: bool,
}

impl AlertNotice {
    /// `alert:high_cpu@web01`: the origin of its deliveries.
    pub fn origin(&self) -> String {
        format!("alert:{}@{}", self.alert, self.node)
    }

    fn state(&self) -> &'static str {
        if self.firing { "firing" } else { "resolved" }
    }

    /// The default message: what, where, since when, the value and a link.
    pub fn message(&self, project: &Project) -> Message {
        let link = link(project, "/alerts");
        let state = match (self.firing, self.repeat) {
            (true, true) => "STILL FIRING",
            (true, false) => "FIRING",
            (false, _) => "RESOLVED",
        };
        let subject = format!(
            "[baton] {state} {}: {} on {}",
            self.severity, self.alert, self.node
        );
        let mut body = if self.firing {
            format!(
                "Alert {} is firing on {} ({}).\n",
                self.alert, self.node, self.severity
            )
        } else {
            format!("Alert {} on {} is resolved.\n", self.alert, self.node)
        };
        body.push_str(&format!("Condition: {}\n", self.condition));
        if let Some(value) = self.value {
            body.push_str(&format!("Value: {}\n", format_value(value)));
        }
        if let Some(detail) = &self.detail {
            body.push_str(&format!("Detail: {detail}\n"));
        }
        body.push_str(&format!("Since: {}\n", human_time(self.since)));
        if !self.firing {
            body.push_str(&format!("Resolved: {}\n", human_time(self.at)));
        }
        if let Some(link) = &link {
            body.push_str(&format!("Link: {link}\n"));
        }
        let payload = json!({
            "kind": "alert",
            "project": project.name.as_ref().map(|n| n.value.clone()),
            "alert": self.alert,
            "node": self.node,
            "status": self.state(),
            "severity": self.severity,
            "condition": self.condition,
            "value": self.value,
            "detail": self.detail,
            "since": self.since,
            "at": self.at,
            "repeat": self.repeat,
            "link": link,
        });
        Message {
            subject,
            body,
            payload,
        }
    }
}

/// Values as people write them: `93.2`, `80`, not `93.200000001`.
fn format_value(value: f64) -> String {
    let rounded = (value * 100.0).round() / 100.0;
    if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded}")
    }
}

/// Render and enqueue one delivery per channel (never sends inline).
pub fn enqueue_alert(
    store: &dyn Store,
    project: &Project,
    notice: &AlertNotice,
    channels: &[String],
) -> Result<Vec<DeliveryId>, NotifyError> {
    let message = notice.message(project);
    crate::queue::enqueue_message(store, project, channels, &notice.origin(), &message)
}
