//! OpenAPI schemas of the store's types that `api` bodies carry (`Status`, `RunKind`, `Phase`):
//! the store knows nothing of HTTP or utoipa, so their shapes are told here, as the strings
//! serde writes for them. Fields use them with `#[schema(value_type = schema::Status)]`.
//!
//! The values are taken from the store's own enums through serde (never retyped), and the
//! variant lists below are checked exhaustive by a `match`: a variant added to the store fails
//! to compile here until the schema lists it.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};

/// A string schema whose values are what serde writes for `variants`.
fn string_enum<T: serde::Serialize>(variants: &[T], description: &str) -> RefOr<Schema> {
    let values: Vec<String> = variants
        .iter()
        .map(|v| match serde_json::to_value(v) {
            Ok(serde_json::Value::String(s)) => s,
            other => unreachable!("a unit variant serializes as a string, not {other:?}"),
        })
        .collect();
    ObjectBuilder::new()
        .schema_type(Type::String)
        .enum_values(Some(values))
        .description(Some(description))
        .into()
}

/// [`baton_store::Status`]: of a run, a stage or a step.
pub struct Status;

impl PartialSchema for Status {
    fn schema() -> RefOr<Schema> {
        string_enum(
            &baton_store::Status::ALL,
            "Status of a run, a stage or a step. `interrupted`: the process running it died.",
        )
    }
}

impl ToSchema for Status {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Status")
    }
}

/// [`baton_store::RunKind`]: which of the four jobs a run is.
pub struct RunKind;

const RUN_KINDS: [baton_store::RunKind; 4] = {
    use baton_store::RunKind::*;
    [Pipeline, Exec, Config, Infra]
};

/// Fails to compile when the store gains a kind [`RUN_KINDS`] does not list.
#[allow(dead_code)]
fn run_kinds_exhaustive(kind: baton_store::RunKind) {
    use baton_store::RunKind::*;
    match kind {
        Pipeline | Exec | Config | Infra => {}
    }
}

impl PartialSchema for RunKind {
    fn schema() -> RefOr<Schema> {
        string_enum(&RUN_KINDS, "What kind of work a run is.")
    }
}

impl ToSchema for RunKind {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("RunKind")
    }
}

/// [`baton_store::Phase`]: which part of a run a step belongs to.
pub struct Phase;

const PHASES: [baton_store::Phase; 2] = [baton_store::Phase::Main, baton_store::Phase::Rollback];

/// Fails to compile when the store gains a phase [`PHASES`] does not list.
#[allow(dead_code)]
fn phases_exhaustive(phase: baton_store::Phase) {
    use baton_store::Phase::*;
    match phase {
        Main | Rollback => {}
    }
}

impl PartialSchema for Phase {
    fn schema() -> RefOr<Schema> {
        string_enum(
            &PHASES,
            "Which part of a run a step belongs to: its main walk or its rollback.",
        )
    }
}

impl ToSchema for Phase {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Phase")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(schema: RefOr<Schema>) -> Vec<String> {
        let json = serde_json::to_value(schema).unwrap();
        serde_json::from_value(json["enum"].clone()).unwrap()
    }

    #[test]
    fn the_values_are_what_the_store_parses() {
        let statuses = values(Status::schema());
        assert_eq!(statuses.len(), baton_store::Status::ALL.len());
        for s in &statuses {
            assert!(baton_store::Status::parse(s).is_some(), "{s}");
        }
        let kinds = values(RunKind::schema());
        assert_eq!(kinds, ["pipeline", "exec", "config", "infra"]);
        for k in &kinds {
            assert!(baton_store::RunKind::parse(k).is_some(), "{k}");
        }
        assert_eq!(values(Phase::schema()), ["main", "rollback"]);
    }
}
