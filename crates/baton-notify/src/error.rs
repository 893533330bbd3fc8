//! The one error type of notifications, by what went wrong.

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A channel name not defined under `notifications:` (validate reports it first, with its
    /// location; this is for names that come from elsewhere, such as a CLI argument).
    #[error("unknown notification channel `{name}`{hint}")]
    UnknownChannel { name: String, hint: String },
    /// A message template did not render (an undefined variable, a syntax error).
    #[error("notification template: {0}")]
    Template(String),
    #[error(transparent)]
    Store(#[from] baton_store::StoreError),
    /// An attempt to send failed; the text is the server's reply or the connection error.
    #[error("{0}")]
    Send(String),
}

impl NotifyError {
    pub(crate) fn unknown_channel(name: &str, project: &baton_model::Project) -> NotifyError {
        let close = project
            .notifications
            .keys()
            .min_by_key(|known| strsim::levenshtein(name, known))
            .filter(|known| strsim::levenshtein(name, known) <= 3);
        NotifyError::UnknownChannel {
            name: name.to_string(),
            hint: close
                .map(|c| format!(" (did you mean `{c}`?)"))
                .unwrap_or_default(),
        }
    }
}
