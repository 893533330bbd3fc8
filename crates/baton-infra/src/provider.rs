//! The provider interface. A provider (local now, AWS next) contributes resource types; each type
//! declares its attributes ([`AttrSpec`]) and implements read / create / update / delete.
//!
//! Verb-per-method with request and response structs (as Terraform's provider protocol): new
//! fields never break a signature, and every response carries diagnostics instead of panicking
//! or printing.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use baton_exec::{CancellationToken, Executor};

/// Attributes of one resource: a JSON object.
pub type Attrs = serde_json::Map<String, serde_json::Value>;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// The JSON shape an attribute accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttrKind {
    String,
    Int,
    Bool,
    /// A list of strings.
    StringList,
    /// Permission bits: `"0644"`, `"644"`, or an unquoted `644` (YAML 1.2 reads it as decimal;
    /// its digits are taken as octal, which is what people mean). Normalised to `"0644"`.
    Mode,
}

impl AttrKind {
    pub fn describe(self) -> &'static str {
        match self {
            AttrKind::String => "a string",
            AttrKind::Int => "an integer",
            AttrKind::Bool => "true or false",
            AttrKind::StringList => "a list of strings",
            AttrKind::Mode => "a mode such as \"0644\"",
        }
    }
}

/// What a resource type says about one attribute.
#[derive(Debug, Clone, Copy)]
pub struct AttrSpec {
    pub name: &'static str,
    pub kind: AttrKind,
    pub required: bool,
    /// Used when the attribute is not written (JSON text, parsed once).
    pub default: Option<&'static str>,
    /// Set by the provider (read back or after create); not writable in the file.
    pub computed: bool,
    /// A change destroys and re-creates the resource (`-/+ replace`).
    pub immutable: bool,
    /// Hidden in plans and listings; stored only as a hash.
    pub sensitive: bool,
    /// Allowed values, when the attribute is an enumeration.
    pub one_of: &'static [&'static str],
}

impl AttrSpec {
    pub const fn optional(name: &'static str, kind: AttrKind) -> AttrSpec {
        AttrSpec {
            name,
            kind,
            required: false,
            default: None,
            computed: false,
            immutable: false,
            sensitive: false,
            one_of: &[],
        }
    }
    pub const fn required(name: &'static str, kind: AttrKind) -> AttrSpec {
        AttrSpec {
            required: true,
            ..AttrSpec::optional(name, kind)
        }
    }
    pub const fn computed(name: &'static str, kind: AttrKind) -> AttrSpec {
        AttrSpec {
            computed: true,
            ..AttrSpec::optional(name, kind)
        }
    }
    pub const fn default(self, json: &'static str) -> AttrSpec {
        AttrSpec {
            default: Some(json),
            ..self
        }
    }
    pub const fn immutable(self) -> AttrSpec {
        AttrSpec {
            immutable: true,
            ..self
        }
    }
    pub const fn sensitive(self) -> AttrSpec {
        AttrSpec {
            sensitive: true,
            ..self
        }
    }
    pub const fn one_of(self, values: &'static [&'static str]) -> AttrSpec {
        AttrSpec {
            one_of: values,
            ..self
        }
    }
}

/// A problem reported by a provider, about one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub summary: String,
    pub detail: Option<String>,
}

impl Diagnostic {
    pub fn error(summary: impl Into<String>) -> Diagnostic {
        Diagnostic {
            summary: summary.into(),
            detail: None,
        }
    }
    pub fn with_detail(mut self, detail: impl Into<String>) -> Diagnostic {
        let detail = detail.into();
        if !detail.trim().is_empty() {
            self.detail = Some(detail.trim_end().to_string());
        }
        self
    }
}

impl std::fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.summary)?;
        if let Some(detail) = &self.detail {
            write!(f, "\n{detail}")?;
        }
        Ok(())
    }
}

/// Where a resource lives and how to reach it.
#[derive(Clone)]
pub struct Target {
    /// Node name (`local` for this machine).
    pub node: String,
    pub executor: Arc<dyn Executor>,
}

impl Target {
    pub fn is_local(&self) -> bool {
        self.node == baton_model::LOCAL_NODE
    }
}

/// What every call gets besides its resource.
#[derive(Clone)]
pub struct Context {
    /// Project root: relative `source` paths and local commands' working directory.
    pub root: PathBuf,
    /// A private directory for temporary files (e.g. content staged for upload).
    pub scratch: PathBuf,
    pub cancel: CancellationToken,
    /// Limit for each command a provider runs.
    pub timeout: Duration,
    /// Who hears about the commands run for the resource being applied (its output, its
    /// process group); `None` while planning.
    pub observer: Option<Arc<dyn CommandObserver>>,
}

/// Hears the commands a provider runs for one resource: the apply walk turns their output
/// into the resource step's log and records their process group, so a kill -9 of baton leaves
/// nothing running that the next command cannot find.
pub trait CommandObserver: Send + Sync {
    /// The command started; `pgid` is its local process group (`None` on a remote node).
    fn started(&self, pgid: Option<i32>);
    fn output(&self, chunk: &[u8]);
}

/// Read the real state of resources of one type on one node (batched: one command per node
/// for a thousand files, not a thousand commands).
pub struct ReadRequest<'a> {
    pub target: &'a Target,
    /// For each resource: its id and the attributes to look for (desired, else stored).
    pub items: &'a [(String, Attrs)],
}

pub struct ReadResponse {
    /// Per item, in order: the attributes observed, or `None` when the resource does not exist.
    /// Attributes a type cannot observe are left out (the stored value stands for them).
    pub states: Vec<Option<Attrs>>,
    pub diagnostics: Vec<Diagnostic>,
}

pub struct ChangeRequest<'a> {
    pub id: &'a str,
    pub target: &'a Target,
    /// For create/update: the desired attributes (rendered, defaults applied). For delete: the
    /// stored attributes.
    pub attrs: &'a Attrs,
    /// For update: the attributes as they were (stored, overlaid with what was read).
    pub prior: Option<&'a Attrs>,
}

#[derive(Default)]
pub struct ChangeResponse {
    /// Computed attributes learned while applying (e.g. a uid, a command's output).
    pub computed: Attrs,
    pub diagnostics: Vec<Diagnostic>,
}

impl ChangeResponse {
    pub fn failed(diagnostic: Diagnostic) -> ChangeResponse {
        ChangeResponse {
            computed: Attrs::new(),
            diagnostics: vec![diagnostic],
        }
    }
}

/// One kind of resource.
pub trait ResourceType: Send + Sync {
    /// The `type:` written in the file (`file`, `aws.s3_bucket`).
    fn name(&self) -> &'static str;
    fn attributes(&self) -> &'static [AttrSpec];
    /// One sentence on what the type manages, for the reference pages.
    fn description(&self) -> &'static str {
        crate::local::docs::type_doc(self.name())
    }
    /// One sentence on attribute `attr`, for the reference pages.
    fn attribute_description(&self, attr: &str) -> &'static str {
        crate::local::docs::attr_doc(self.name(), attr)
    }
    /// Checks across attributes after each is valid on its own (e.g. `content` xor `source`).
    fn check(&self, _attrs: &Attrs) -> Vec<String> {
        Vec::new()
    }
    /// Whether a change to `attr` needs a replace, given the desired attributes. Defaults to the
    /// spec's `immutable`.
    fn needs_replace(&self, attr: &str, _desired: &Attrs) -> bool {
        self.attributes()
            .iter()
            .any(|a| a.name == attr && a.immutable)
    }
    /// Computed attributes that follow from the desired ones, so that a plan can compare them
    /// with what is read (a file's `sha256` from its `content`).
    fn expected(&self, _ctx: &Context, _desired: &mut Attrs) -> Result<(), String> {
        Ok(())
    }
    fn read<'a>(&'a self, ctx: &'a Context, req: ReadRequest<'a>) -> BoxFuture<'a, ReadResponse>;
    fn create<'a>(
        &'a self,
        ctx: &'a Context,
        req: ChangeRequest<'a>,
    ) -> BoxFuture<'a, ChangeResponse>;
    /// Bring an existing resource to the desired attributes. Most types converge the same way
    /// they create (write the file, make the directory): that is the default.
    fn update<'a>(
        &'a self,
        ctx: &'a Context,
        req: ChangeRequest<'a>,
    ) -> BoxFuture<'a, ChangeResponse> {
        self.create(ctx, req)
    }
    fn delete<'a>(
        &'a self,
        ctx: &'a Context,
        req: ChangeRequest<'a>,
    ) -> BoxFuture<'a, ChangeResponse>;
}

/// A source of resource types. Types of provider `aws` are named `aws.*`; the built-in local
/// provider's types have bare names.
pub trait Provider: Send + Sync {
    fn name(&self) -> &'static str;
    fn types(&self) -> Vec<Arc<dyn ResourceType>>;
}

/// Every resource type known to this build, by name.
#[derive(Clone, Default)]
pub struct Registry {
    types: HashMap<&'static str, Arc<dyn ResourceType>>,
    providers: Vec<&'static str>,
}

impl Registry {
    /// The built-in providers.
    pub fn builtin() -> Registry {
        let mut registry = Registry::default();
        registry.add(&crate::local::LocalProvider);
        registry
    }

    pub fn add(&mut self, provider: &dyn Provider) {
        self.providers.push(provider.name());
        for t in provider.types() {
            self.types.insert(t.name(), t);
        }
    }

    pub fn get(&self, name: &str) -> Option<&Arc<dyn ResourceType>> {
        self.types.get(name)
    }

    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.types.keys().copied().collect();
        names.sort();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_type_and_attribute_is_described() {
        let registry = Registry::builtin();
        for name in registry.names() {
            let t = registry.get(name).unwrap();
            assert!(
                !t.description().is_empty(),
                "type `{name}` has no description"
            );
            for a in t.attributes() {
                assert!(
                    !t.attribute_description(a.name).is_empty(),
                    "`{name}.{}` has no description (crates/baton-infra/src/local/docs.rs)",
                    a.name
                );
            }
        }
    }
}
