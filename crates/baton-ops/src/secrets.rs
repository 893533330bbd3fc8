//! Secret operations: set, get, list, remove and keygen over the project's age-encrypted
//! `secrets/<env>.yaml`. None of them opens the store: secrets live in the project, never in
//! `.baton/`.

use baton_model::Project;
use baton_model::diagnostic::did_you_mean;
use baton_secrets::{Identity, SecretError, Secrets};

use crate::api::secrets::{Keygen, SecretInfo, SecretSet};
use crate::error::{OpsError, OpsResult};

impl From<SecretError> for OpsError {
    fn from(e: SecretError) -> OpsError {
        match e {
            SecretError::BadName(_) => OpsError::usage(e.to_string()),
            SecretError::NotFound { .. } => OpsError::not_found(e.to_string()),
            other => OpsError::failed(other.to_string()),
        }
    }
}

/// The environment: `default`, or one the project declares (a typo must not quietly create
/// `secrets/prdo.yaml`, which no run would ever read).
pub fn secret_env(project: &Project, env: Option<&str>) -> OpsResult<String> {
    let Some(env) = env else {
        return Ok(baton_engine::DEFAULT_SECRETS_ENV.to_string());
    };
    if env == baton_engine::DEFAULT_SECRETS_ENV || project.environments.contains_key(env) {
        return Ok(env.to_string());
    }
    let mut error = OpsError::usage(format!("unknown environment `{env}`"));
    if let Some(s) = did_you_mean(env, project.environments.keys().map(String::as_str)) {
        error = error.with_hint(format!("did you mean `{s}`?"));
    }
    Err(error)
}

fn recipients(project: &Project) -> Vec<String> {
    project
        .secrets
        .recipients
        .iter()
        .map(|r| r.value.clone())
        .collect()
}

/// Check that `name` can be set in `env` before a value is asked for.
pub fn check_secret_target(project: &Project, env: Option<&str>, name: &str) -> OpsResult<String> {
    let env = secret_env(project, env)?;
    baton_secrets::check_name(name)?;
    if recipients(project).is_empty() {
        return Err(SecretError::NoRecipients.into());
    }
    Ok(env)
}

/// Encrypt `value` as `name` in `env` for the project's recipients.
pub fn set_secret(
    project: &Project,
    env: Option<&str>,
    name: &str,
    value: &[u8],
) -> OpsResult<SecretSet> {
    let env = check_secret_target(project, env, name)?;
    let value = std::str::from_utf8(value).map_err(|_| {
        OpsError::usage("the value is not UTF-8 text (secrets become environment variables)")
            .with_hint("base64-encode binary values")
    })?;
    if value.is_empty() {
        return Err(OpsError::usage(
            "empty value: nothing was read from stdin; nothing was changed",
        )
        .with_hint(format!("echo VALUE | baton secret set {name} --env {env}")));
    }
    if value.contains('\0') {
        return Err(OpsError::usage(
            "the value contains a NUL byte, which environment variables cannot hold",
        ));
    }
    let recipients = recipients(project);
    Secrets::new(&project.root).set(&env, name, value, &recipients)?;
    Ok(SecretSet {
        name: name.to_string(),
        file: format!("secrets/{env}.yaml"),
        env,
        recipients: recipients.len(),
        masked: value.len() >= baton_engine::MIN_MASKED_LEN,
    })
}

/// The value of `name` in `env`, decrypted with this user's identity.
pub fn get_secret(project: &Project, env: Option<&str>, name: &str) -> OpsResult<String> {
    let env = secret_env(project, env)?;
    let secrets = Secrets::new(&project.root);
    // The entry first: "no such secret" must not depend on having an identity.
    secrets.entry(&env, name)?;
    let identity = Identity::locate_and_load()?;
    Ok(secrets.get(&env, name, &identity)?)
}

/// The secrets of `env` (names and recipients only).
pub fn list_secrets(project: &Project, env: Option<&str>) -> OpsResult<(String, Vec<SecretInfo>)> {
    let env = secret_env(project, env)?;
    let file = Secrets::new(&project.root).read(&env)?;
    let mut wanted: Vec<String> = recipients(project);
    wanted.sort();
    let listed = file
        .entries
        .into_iter()
        .map(|(name, entry)| {
            let mut have = entry.recipients.clone();
            have.sort();
            SecretInfo {
                current: have == wanted,
                name,
                recipients: entry.recipients,
            }
        })
        .collect();
    Ok((env, listed))
}

/// Remove `name` from `env`; returns the environment it was removed from.
pub fn remove_secret(project: &Project, env: Option<&str>, name: &str) -> OpsResult<String> {
    let env = secret_env(project, env)?;
    Secrets::new(&project.root).remove(&env, name)?;
    Ok(env)
}

/// Create this user's identity and return its public key.
pub fn keygen() -> OpsResult<Keygen> {
    let path = baton_secrets::identity_path()?;
    let public_key = baton_secrets::generate(&path)?;
    Ok(Keygen {
        public_key,
        path: path.display().to_string(),
    })
}
