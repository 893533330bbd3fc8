//! The OpenAPI 3.1 document of the REST API (`GET /api/openapi.json`), built from the code with
//! utoipa: bodies are the schemas derived on the `baton_ops::api` types and on the routes' own
//! request types, query parameters come from the routes' `*Params` structs, and the table in
//! [`operations`] says per route what it takes and answers. A test checks that the document
//! describes exactly [`crate::routes::ROUTES`], so a new route cannot go undocumented.

use std::sync::LazyLock;

use baton_ops::api;
use utoipa::openapi::path::{
    HttpMethod, Operation, OperationBuilder, Parameter, ParameterBuilder, ParameterIn,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme};
use utoipa::openapi::{
    ComponentsBuilder, ContentBuilder, HeaderBuilder, InfoBuilder, OpenApi, OpenApiBuilder, Paths,
    Ref, RefOr, Required, ResponseBuilder,
};
use utoipa::{IntoParams, PartialSchema, ToSchema};

use crate::routes::queries::{
    AlertsParams, AuditParams, EnvParams, LogParams, MetricsParams, NodesParams, RunsParams,
    StatusDoc,
};
use crate::routes::runs::{PromoteBody, RollbackBody, StartBody, Started};
use crate::routes::stream::EventsParams;

/// The name of the bearer security scheme.
const BEARER: &str = "bearer";

/// The document, as JSON text; built once (it only changes with the code).
pub fn document() -> String {
    static DOCUMENT: LazyLock<String> = LazyLock::new(|| {
        build()
            .to_pretty_json()
            .expect("an OpenAPI document serializes")
    });
    DOCUMENT.clone()
}

/// The document.
pub fn build() -> OpenApi {
    let mut schemas = Schemas::default();
    let mut paths = Paths::new();
    for (method, path, operation) in operations(&mut schemas) {
        let method = match method {
            "get" => HttpMethod::Get,
            "post" => HttpMethod::Post,
            other => unreachable!("no route takes {other}"),
        };
        paths.add_path_operation(path, vec![method], operation);
    }
    let bearer = HttpBuilder::new()
        .scheme(HttpAuthScheme::Bearer)
        .description(Some(
            "A token of `server.tokens` (`baton token add NAME --role viewer|operator`) or the \
             server's `BATON_TOKEN` (an operator). Viewers read; operators also start, cancel, \
             retry, roll back and promote.",
        ))
        .build();
    let components = ComponentsBuilder::new()
        .schemas_from_iter(schemas.0)
        .security_scheme(BEARER, SecurityScheme::Http(bearer))
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("baton")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "The REST API of `baton serve`: the operations of the CLI over HTTP, with the \
                     same bodies as its `--json` output. Every error is \
                     `{ \"error\": { \"code\", \"message\" } }`.",
                )),
        )
        .paths(paths)
        .components(Some(components))
        .build()
}

/// The named schemas the operations refer to, collected as they are referred to.
#[derive(Default)]
struct Schemas(Vec<(String, RefOr<Schema>)>);

impl Schemas {
    /// A reference to `T`'s schema, which (with every schema it refers to) is now a component.
    fn of<T: ToSchema>(&mut self) -> RefOr<Schema> {
        let name = T::name().into_owned();
        if !self.0.iter().any(|(n, _)| *n == name) {
            self.0.push((name.clone(), T::schema()));
            T::schemas(&mut self.0);
        }
        Ref::from_schema_name(name).into()
    }

    /// An array of `T`.
    fn list_of<T: ToSchema>(&mut self) -> RefOr<Schema> {
        ArrayBuilder::new().items(self.of::<T>()).into()
    }
}

/// Who may call a route.
#[derive(Clone, Copy, PartialEq)]
enum Access {
    /// No token (`/healthz`; webhooks prove themselves by their signature).
    Open,
    /// Any token.
    Viewer,
    /// An operator token.
    Operator,
}

/// One operation under construction.
struct Op<'a> {
    builder: OperationBuilder,
    schemas: &'a mut Schemas,
}

impl<'a> Op<'a> {
    fn new(schemas: &'a mut Schemas, id: &str, tag: &str, summary: &str, access: Access) -> Op<'a> {
        let mut op = Op {
            builder: OperationBuilder::new()
                .operation_id(Some(id))
                .tag(tag)
                .summary(Some(summary)),
            schemas,
        };
        if access != Access::Open {
            op.builder = op
                .builder
                .security(SecurityRequirement::new(BEARER, Vec::<String>::new()));
            op = op.errors(&[401]);
        }
        if access == Access::Operator {
            op = op.errors(&[403]);
        }
        op
    }

    fn description(mut self, text: &str) -> Self {
        self.builder = self.builder.description(Some(text));
        self
    }

    fn params(mut self, params: Vec<Parameter>) -> Self {
        self.builder = self.builder.parameters(Some(params));
        self
    }

    fn param(mut self, param: Parameter) -> Self {
        self.builder = self.builder.parameter(param);
        self
    }

    /// A JSON request body of schema `T`.
    fn body<T: ToSchema>(mut self, required: bool, description: &str) -> Self {
        let schema = self.schemas.of::<T>();
        self.builder = self.builder.request_body(Some(
            RequestBodyBuilder::new()
                .description(Some(description))
                .required(Some(if required {
                    Required::True
                } else {
                    Required::False
                }))
                .content(
                    "application/json",
                    ContentBuilder::new().schema(Some(schema)).build(),
                )
                .build(),
        ));
        self
    }

    /// A response with a body of `media_type`.
    fn answer(
        mut self,
        status: u16,
        description: &str,
        media_type: &str,
        schema: RefOr<Schema>,
    ) -> Self {
        self.builder = self.builder.response(
            status.to_string(),
            ResponseBuilder::new().description(description).content(
                media_type,
                ContentBuilder::new().schema(Some(schema)).build(),
            ),
        );
        self
    }

    /// A JSON response of schema `T`.
    fn json<T: ToSchema>(self, status: u16, description: &str) -> Self {
        let schema = self.schemas.of::<T>();
        self.answer(status, description, "application/json", schema)
    }

    /// A JSON response listing `T`s.
    fn json_list<T: ToSchema>(self, status: u16, description: &str) -> Self {
        let schema = self.schemas.list_of::<T>();
        self.answer(status, description, "application/json", schema)
    }

    /// Error responses (the one error shape) for these statuses.
    fn errors(mut self, statuses: &[u16]) -> Self {
        for &status in statuses {
            let description = match status {
                400 => {
                    "The request is malformed: its path, query, headers or body (the message says which)."
                }
                401 => "No token, or one the server does not know.",
                403 => "A viewer's token: this needs an operator.",
                404 => "No such thing (the message names it).",
                409 => "It conflicts with the state of things (the message says how).",
                413 => "The body is over 1 MiB.",
                416 => "The offset is past the log's end (`Content-Range: bytes */LENGTH`).",
                422 => {
                    "The project cannot do what was asked (e.g. a step kind this build does not run)."
                }
                other => unreachable!("no description for {other}"),
            };
            let schema = self.schemas.of::<crate::error::Body<'static>>();
            self = self.answer(status, description, "application/json", schema);
        }
        self
    }

    fn build(self) -> Operation {
        self.builder.build()
    }
}

fn path_param(name: &str, description: &str, schema: RefOr<Schema>) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn run_id() -> Parameter {
    path_param("id", "The run's id.", i64::schema())
}

fn header(name: &str, description: &str, schema: RefOr<Schema>) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

fn text() -> RefOr<Schema> {
    String::schema()
}

/// An object with these properties, for the few bodies that are built as JSON values.
fn object(properties: &[(&str, RefOr<Schema>, &str)]) -> RefOr<Schema> {
    let mut object = ObjectBuilder::new().schema_type(Type::Object);
    for (name, schema, _) in properties {
        object = object.property(*name, schema.clone()).required(*name);
    }
    let description = properties
        .iter()
        .map(|(name, _, text)| format!("`{name}`: {text}"))
        .collect::<Vec<_>>()
        .join(" ");
    object.description(Some(description)).into()
}

fn query<T: IntoParams>() -> Vec<Parameter> {
    T::into_params(|| Some(ParameterIn::Query))
}

/// Every route: (method, path, operation). The order is [`crate::routes::ROUTES`]'.
fn operations(s: &mut Schemas) -> Vec<(&'static str, &'static str, Operation)> {
    use Access::{Open, Operator, Viewer};
    vec![
        (
            "get",
            "/healthz",
            Op::new(s, "healthz", "server", "Liveness: `ok`", Open)
                .answer(200, "The server answers.", "text/plain", text())
                .build(),
        ),
        (
            "get",
            "/metrics",
            Op::new(s, "metrics", "server", "Prometheus metrics", Viewer)
                .description(
                    "Runs by pipeline and status, durations, webhook deliveries, SSE clients.",
                )
                .answer(
                    200,
                    "The metrics, in the OpenMetrics text format.",
                    "application/openmetrics-text",
                    text(),
                )
                .build(),
        ),
        (
            "get",
            "/api/status",
            Op::new(
                s,
                "status",
                "server",
                "The server: version, project, active runs",
                Viewer,
            )
            .json::<StatusDoc>(200, "The server's status.")
            .build(),
        ),
        (
            "get",
            "/api/openapi.json",
            Op::new(s, "openapi", "server", "This document", Viewer)
                .answer(
                    200,
                    "The OpenAPI document.",
                    "application/json",
                    ObjectBuilder::new().schema_type(Type::Object).into(),
                )
                .build(),
        ),
        (
            "get",
            "/api/events",
            Op::new(
                s,
                "events",
                "runs",
                "Live events of every run (Server-Sent Events)",
                Viewer,
            )
            .description(
                "Each stored event is a frame `id: SEQ`, `event: KIND`, `data: JSON` (the \
                     event with `seq` and `run`); step output arrives as `event: output` frames \
                     without an id. A client resuming with `Last-Event-ID` (or `?after=`) first \
                     gets what it missed, from the store. A comment every 15 s keeps the \
                     connection open; a client too far behind gets `event: dropped` and is \
                     closed.",
            )
            .params(query::<EventsParams>())
            .param(header(
                "Last-Event-ID",
                "Resume after this sequence number (wins over `after`).",
                i64::schema(),
            ))
            .answer(
                200,
                "The event stream (it does not end).",
                "text/event-stream",
                text(),
            )
            .errors(&[400])
            .build(),
        ),
        (
            "get",
            "/api/pipelines",
            Op::new(
                s,
                "listPipelines",
                "pipelines",
                "The pipelines, with their last runs",
                Viewer,
            )
            .json_list::<api::runs::PipelineSummary>(200, "Every pipeline of the project.")
            .build(),
        ),
        (
            "post",
            "/api/pipelines/{name}/runs",
            Op::new(
                s,
                "startRun",
                "pipelines",
                "Start a run of the pipeline",
                Operator,
            )
            .description(
                "Answers as soon as the run's row exists; the run goes on in the server \
                     (follow it on `/api/events`). Its actor is the token's name.",
            )
            .param(path_param("name", "The pipeline.", text()))
            .body::<StartBody>(false, "How to run it (an empty body runs it as it is).")
            .json::<Started>(201, "The run was queued.")
            .errors(&[400, 404, 409, 413, 422])
            .build(),
        ),
        (
            "get",
            "/api/runs",
            Op::new(
                s,
                "listRuns",
                "runs",
                "Runs of every kind, newest first",
                Viewer,
            )
            .params(query::<RunsParams>())
            .json_list::<api::runs::Run>(200, "One page of runs.")
            .errors(&[400])
            .build(),
        ),
        (
            "get",
            "/api/runs/{id}",
            Op::new(
                s,
                "getRun",
                "runs",
                "A run with its stages, steps and artifacts",
                Viewer,
            )
            .param(run_id())
            .json::<api::runs::RunDetail>(200, "The run.")
            .errors(&[400, 404])
            .build(),
        ),
        ("get", "/api/runs/{id}/log", log_operation(s)),
        (
            "post",
            "/api/runs/{id}/cancel",
            Op::new(s, "cancelRun", "runs", "Ask a run to stop", Operator)
                .description(
                    "The request is recorded at once and stops that run only, in whatever \
                     process runs it; the answer says whether it has stopped within 2 s.",
                )
                .param(run_id())
                .json::<baton_ops::Cancelled>(200, "The run has stopped.")
                .json::<baton_ops::Cancelled>(
                    202,
                    "The request is recorded; the run stops at its next step boundary or kill.",
                )
                .errors(&[400, 404, 409])
                .build(),
        ),
        (
            "post",
            "/api/runs/{id}/retry",
            Op::new(
                s,
                "retryRun",
                "runs",
                "Retry a run: what failed or did not run, again",
                Operator,
            )
            .param(run_id())
            .json::<Started>(201, "The retry run was queued.")
            .errors(&[400, 404, 409, 422])
            .build(),
        ),
        (
            "post",
            "/api/runs/{id}/rollback",
            Op::new(
                s,
                "rollbackRun",
                "runs",
                "Roll back what a run did",
                Operator,
            )
            .param(run_id())
            .body::<RollbackBody>(false, "Options (an empty body is `{}`).")
            .json::<Started>(201, "The rollback run was queued.")
            .errors(&[400, 404, 409, 413, 422])
            .build(),
        ),
        (
            "get",
            "/api/nodes",
            Op::new(s, "listNodes", "inventory", "The inventory's nodes", Viewer)
                .params(query::<NodesParams>())
                .json_list::<api::nodes::NodeInfo>(200, "The selected nodes.")
                .errors(&[400, 404])
                .build(),
        ),
        (
            "get",
            "/api/nodes/{name}/metrics",
            Op::new(
                s,
                "nodeMetrics",
                "monitoring",
                "A node's metrics over a time range (raw, 1-minute or 1-hour points)",
                Viewer,
            )
            .param(path_param("name", "The node.", text()))
            .params(query::<MetricsParams>())
            .json::<api::monitor::Metrics>(
                200,
                "Its series, at the finest resolution kept for the range.",
            )
            .errors(&[400, 404])
            .build(),
        ),
        (
            "get",
            "/api/alerts",
            Op::new(
                s,
                "listAlerts",
                "monitoring",
                "Alerts pending and firing, silences, node states (and with `all`, the history)",
                Viewer,
            )
            .params(query::<AlertsParams>())
            .json::<api::monitor::Alerts>(200, "What the monitor knows now.")
            .errors(&[400])
            .build(),
        ),
        (
            "get",
            "/api/configs",
            Op::new(
                s,
                "listConfigs",
                "configs",
                "Configurations and their versions per environment",
                Viewer,
            )
            .params(query::<EnvParams>())
            .json_list::<api::config::ListEntry>(200, "Every configuration.")
            .errors(&[400, 404])
            .build(),
        ),
        (
            "get",
            "/api/configs/{name}/versions",
            Op::new(
                s,
                "listConfigVersions",
                "configs",
                "A configuration's versions, newest first",
                Viewer,
            )
            .param(path_param("name", "The configuration.", text()))
            .params(query::<EnvParams>())
            .json_list::<api::config::HistoryEntry>(200, "Its versions.")
            .errors(&[400, 404])
            .build(),
        ),
        (
            "get",
            "/api/resources",
            Op::new(
                s,
                "listResources",
                "infra",
                "The infrastructure state's resources",
                Viewer,
            )
            .json_list::<api::infra::StateEntry>(200, "Every resource in the state.")
            .build(),
        ),
        (
            "get",
            "/api/artifacts",
            Op::new(
                s,
                "listArtifacts",
                "artifacts",
                "Artifact versions with their shelves",
                Viewer,
            )
            .params(query::<EnvParams>())
            .json_list::<api::artifacts::ArtifactVersion>(200, "The artifact versions.")
            .errors(&[400, 404])
            .build(),
        ),
        (
            "post",
            "/api/artifacts/{name}/promote",
            Op::new(
                s,
                "promoteArtifact",
                "artifacts",
                "Put an artifact version on another environment's shelf",
                Operator,
            )
            .param(path_param("name", "The artifact.", text()))
            .body::<PromoteBody>(true, "Where to, and which version.")
            .json::<api::artifacts::Promoted>(
                200,
                "The promotion, or that it was on that shelf already.",
            )
            .errors(&[400, 404, 409, 413, 422])
            .build(),
        ),
        (
            "get",
            "/api/schedules",
            Op::new(
                s,
                "listSchedules",
                "pipelines",
                "Schedule triggers: next times, last fired, missed",
                Viewer,
            )
            .json_list::<api::schedules::Schedule>(200, "Every schedule trigger of the project.")
            .build(),
        ),
        (
            "get",
            "/api/audit",
            Op::new(
                s,
                "listAudit",
                "audit",
                "The audit trail, newest first",
                Viewer,
            )
            .params(query::<AuditParams>())
            .json_list::<api::audit::AuditEntry>(200, "Who did what to which thing.")
            .errors(&[400])
            .build(),
        ),
        ("post", "/hooks/{pipeline}", hook_operation(s)),
    ]
}

fn log_operation(s: &mut Schemas) -> Operation {
    let log_length = || {
        HeaderBuilder::new()
            .schema(u64::schema())
            .description(Some(
                "The whole log's length in bytes, wherever this piece starts.",
            ))
            .build()
    };
    let piece = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "text/plain",
                ContentBuilder::new().schema(Some(text())).build(),
            )
            .header("X-Log-Length", log_length())
            .header(
                "Accept-Ranges",
                HeaderBuilder::new()
                    .schema(text())
                    .description(Some("`bytes`"))
                    .build(),
            )
            .header(
                "Content-Range",
                HeaderBuilder::new()
                    .schema(text())
                    .description(Some("On 206: `bytes START-END/LENGTH`."))
                    .build(),
            )
    };
    let mut op = Op::new(
        s,
        "getRunLog",
        "runs",
        "A run's log: its steps' output",
        Access::Viewer,
    )
    .description(
        "The matched steps' output, concatenated in the order they started, streamed from \
             the files, from `offset` or `Range: bytes=N-` (a log follower resumes there).",
    )
    .param(run_id())
    .params(query::<LogParams>())
    .param(header(
        "Range",
        "`bytes=N-`: from byte N (other forms are ignored).",
        text(),
    ))
    .errors(&[400, 404, 416]);
    op.builder = op
        .builder
        .response("200", piece("The log from the offset."))
        .response("206", piece("The log from the `Range` start."));
    op.build()
}

fn hook_operation(s: &mut Schemas) -> Operation {
    let headers = [
        (
            "X-Hub-Signature-256",
            "GitHub: `sha256=HMAC-SHA256(secret, body)` in hex.",
        ),
        (
            "X-GitHub-Event",
            "GitHub: the event (`push`, `ping`; others are ignored).",
        ),
        (
            "X-GitHub-Delivery",
            "GitHub: the delivery id (a second delivery of it is refused).",
        ),
        ("X-Gitlab-Token", "GitLab: the secret itself."),
        (
            "X-Gitlab-Event",
            "GitLab: the event (`Push Hook`, `Tag Push Hook`, `System Hook`).",
        ),
        ("X-Gitlab-Event-UUID", "GitLab: the delivery id."),
        (
            "X-Baton-Signature",
            "Any other sender: `sha256=HMAC-SHA256(secret, \"{timestamp}.{body}\")` in hex.",
        ),
        (
            "X-Baton-Timestamp",
            "With `X-Baton-Signature`: Unix seconds, within 5 minutes of the server's clock.",
        ),
        (
            "X-Baton-Delivery",
            "With `X-Baton-Signature`: an optional delivery id.",
        ),
    ];
    let any_json: RefOr<Schema> = ObjectBuilder::new()
        .description(Some(
            "The sender's payload (GitHub's or GitLab's push event; for others \
             `{\"branch\": \"...\", \"commit\": \"...\"}`, both optional).",
        ))
        .into();
    let mut op = Op::new(
        s,
        "deliverHook",
        "hooks",
        "A signed webhook delivery: run the pipeline",
        Access::Open,
    )
    .description(
        "The pipeline needs a `webhook` trigger naming a secret. The scheme is the first \
             of `X-Hub-Signature-256`, `X-Gitlab-Token`, `X-Baton-Signature` present; the \
             signature is checked before the body is read. A push runs the pipeline on the \
             pushed branch and commit (when it matches the trigger's `branches`).",
    )
    .param(path_param("pipeline", "The pipeline.", text()));
    for (name, description) in headers {
        op = op.param(header(name, description, text()));
    }
    op.builder = op.builder.request_body(Some(
        RequestBodyBuilder::new()
            .description(Some("The delivery, signed as its headers say."))
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(any_json)).build(),
            )
            .build(),
    ));
    let ping = object(&[(
        "ping",
        bool::schema(),
        "a ping was acknowledged; nothing ran.",
    )]);
    let ignored = object(&[(
        "ignored",
        text(),
        "why nothing ran (another event, a branch not matched).",
    )]);
    op.answer(200, "A ping: nothing ran.", "application/json", ping)
        .json::<Started>(201, "A push: the run was queued.")
        .answer(
            202,
            "Acknowledged and ignored.",
            "application/json",
            ignored,
        )
        .errors(&[400, 401, 404, 409, 413])
        .build()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use serde_json::Value;

    use super::*;

    fn doc() -> Value {
        serde_json::from_str(&document()).expect("the document is JSON")
    }

    #[test]
    fn it_describes_exactly_the_routes() {
        let doc = doc();
        let documented: BTreeSet<(String, String)> = doc["paths"]
            .as_object()
            .expect("paths")
            .iter()
            .flat_map(|(path, item)| {
                item.as_object()
                    .expect("a path item")
                    .keys()
                    .filter(|k| !matches!(k.as_str(), "summary" | "description" | "parameters"))
                    .map(move |method| (method.clone(), path.clone()))
            })
            .collect();
        let routed: BTreeSet<(String, String)> = crate::routes::ROUTES
            .iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect();
        assert_eq!(documented, routed);
        assert_eq!(
            crate::routes::ROUTES.len(),
            routed.len(),
            "a route is listed twice"
        );
    }

    #[test]
    fn it_is_openapi_3_1_at_the_crate_version() {
        let doc = doc();
        assert!(doc["openapi"].as_str().expect("openapi").starts_with("3.1"));
        assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    }

    /// Every `$ref` names a component, so the document stands on its own.
    #[test]
    fn every_reference_resolves() {
        fn refs(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::Object(m) => {
                    if let Some(Value::String(r)) = m.get("$ref") {
                        out.push(r.clone());
                    }
                    m.values().for_each(|v| refs(v, out));
                }
                Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
                _ => {}
            }
        }
        let doc = doc();
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 20, "{found:?}");
        for r in found {
            let name = r
                .strip_prefix("#/components/schemas/")
                .expect("a schema reference");
            assert!(
                doc["components"]["schemas"][name].is_object(),
                "{r} is not a component"
            );
        }
    }

    #[test]
    fn every_route_but_health_and_hooks_needs_a_token() {
        let doc = doc();
        for (method, path) in crate::routes::ROUTES {
            let op = &doc["paths"][path][method];
            let open = matches!(*path, "/healthz" | "/hooks/{pipeline}");
            assert_eq!(op["security"].is_null(), open, "{method} {path}");
            if !open {
                assert_eq!(
                    op["security"][0][BEARER],
                    serde_json::json!([]),
                    "{method} {path}"
                );
                assert!(op["responses"]["401"].is_object(), "{method} {path}");
            }
        }
        assert_eq!(
            doc["components"]["securitySchemes"][BEARER]["scheme"],
            "bearer"
        );
        let hook = &doc["paths"]["/hooks/{pipeline}"]["post"]["parameters"];
        let names: Vec<&str> = hook
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["name"].as_str().unwrap())
            .collect();
        for header in ["X-Hub-Signature-256", "X-Gitlab-Token", "X-Baton-Signature"] {
            assert!(names.contains(&header), "{names:?}");
        }
    }

    /// The error schema is the shape `ApiError` answers with (derived from its body type).
    #[test]
    fn errors_have_the_one_shape() {
        let doc = doc();
        let schemas = &doc["components"]["schemas"];
        assert_eq!(schemas["Error"]["required"], serde_json::json!(["error"]));
        assert_eq!(
            schemas["ErrorDetail"]["required"],
            serde_json::json!(["code", "message"])
        );
        let start = &doc["paths"]["/api/pipelines/{name}/runs"]["post"]["responses"];
        for status in ["400", "401", "403", "404", "409", "413", "422"] {
            assert_eq!(
                start[status]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/Error",
                "{status}"
            );
        }
    }
}
