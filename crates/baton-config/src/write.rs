//! Writing one target: a staged copy verified and renamed (or a removal), and the systemd
//! actions of a service config.

use crate::*;

/// Put the desired state in place: a staged copy verified and renamed, or a removal. Returns
/// the mode and owner the file has afterwards (`None` when removed).
pub(crate) async fn write(
    executor: &Arc<dyn Executor>,
    scratch: &std::path::Path,
    d: &Desired,
    cancel: &CancellationToken,
) -> Result<Option<(u32, String)>, String> {
    let Some(content) = &d.content else {
        let (ok, out) = remote::run(executor, remote::remove_script(&d.path), vec![], cancel)
            .await
            .map_err(|e| e.to_string())?;
        return if ok {
            Ok(None)
        } else {
            Err(String::from_utf8_lossy(&out).trim().to_string())
        };
    };
    let stage = remote::stage_path(&d.path);
    remote::upload(executor, scratch, content, &stage, Some(0o600))
        .await
        .map_err(|e| e.to_string())?;
    let script = remote::install_script(
        &stage,
        &d.path,
        &sha256_hex(content),
        d.mode,
        d.owner.as_deref(),
    );
    let (ok, out) = remote::run(executor, script, vec![], cancel)
        .await
        .map_err(|e| e.to_string())?;
    if !ok {
        return Err(format!(
            "cannot write `{}`: {}",
            d.path,
            String::from_utf8_lossy(&out).trim()
        ));
    }
    Ok(remote::parse_installed(&out))
}

/// After a unit file changed: reload systemd, then bring the unit to its `state`. The probe
/// already refused nodes without systemd; this re-checks, so it never pretends.
pub(crate) fn service_script(unit: &str, state: Option<ServiceState>) -> String {
    let u = remote::quote(&format!("{unit}.service"));
    let action = match state {
        None => String::new(),
        Some(ServiceState::Started) => format!("systemctl start {u}; "),
        Some(ServiceState::Stopped) => format!("systemctl stop {u}; "),
        Some(ServiceState::Restarted) => format!("systemctl restart {u}; "),
        Some(ServiceState::Enabled) => format!("systemctl enable {u}; "),
    };
    format!(
        "if ! command -v systemctl >/dev/null 2>&1 || [ ! -d /run/systemd/system ]; then \
         echo 'no systemd on this node'; exit 1; fi; systemctl daemon-reload; {action}"
    )
}
