//! Mail through an SMTP server: lettre's connection over rustls (ring), one per message.

use baton_model::diagnostic::error_chain;
use std::future::Future;
use std::path::Path;
use std::time::Duration;

use baton_model::{SmtpChannel, SmtpTls};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Mailboxes};
use lettre::transport::smtp::authentication::{Credentials, Mechanism};
use lettre::transport::smtp::client::{
    AsyncSmtpConnection, Certificate, CertificateStore, TlsParameters,
};
use lettre::transport::smtp::extension::ClientId;

/// What to send: a rendered subject and plain-text body.
pub(crate) struct Mail<'a> {
    pub subject: &'a str,
    pub body: &'a str,
}

/// Send `mail` through `channel`; `Ok` carries the server's final reply, `Err` the reason
/// (the server's reply when it gave one: `permanent error (535): …`).
///
/// lettre's transport bounds only the TCP connect, so each phase (connect and greeting,
/// STARTTLS, AUTH, the message) runs under the channel's `timeout` here: a server that stops
/// answering is a timed-out attempt, not a worker stuck until its bound.
pub(crate) async fn send(
    channel: &SmtpChannel,
    root: &Path,
    password: Option<String>,
    mail: Mail<'_>,
) -> Result<String, String> {
    let message = build_message(channel, mail)?;
    let limit = channel.timeout;
    let hello = ClientId::default();
    let wrapper = match channel.tls {
        SmtpTls::Tls => Some(tls_parameters(channel, root)?),
        SmtpTls::Starttls | SmtpTls::None => None,
    };
    let server = (channel.host.as_str(), port(channel));
    let mut conn = within(
        channel,
        limit,
        "connect",
        AsyncSmtpConnection::connect_tokio1(server, Some(limit), &hello, wrapper, None),
    )
    .await?;
    if channel.tls == SmtpTls::Starttls {
        if !conn.can_starttls() {
            return Err(format!(
                "{}:{}: the server does not offer STARTTLS (`tls: none` sends in the clear)",
                channel.host,
                port(channel)
            ));
        }
        let parameters = tls_parameters(channel, root)?;
        within(
            channel,
            limit,
            "STARTTLS",
            conn.starttls(parameters, &hello),
        )
        .await?;
    }
    if let Some(user) = &channel.user {
        let credentials = Credentials::new(user.clone(), password.unwrap_or_default());
        let mechanisms = [Mechanism::Plain, Mechanism::Login];
        within(channel, limit, "AUTH", conn.auth(&mechanisms, &credentials)).await?;
    }
    let response = within(
        channel,
        limit * 2,
        "sending the message",
        conn.send(message.envelope(), &message.formatted()),
    )
    .await?;
    // The message is accepted: a slow goodbye does not make it a failure.
    let _ = tokio::time::timeout(limit, conn.quit()).await;
    let text: Vec<&str> = response.message().collect();
    Ok(format!("{} {}", response.code(), text.join(" "))
        .trim()
        .to_string())
}

/// `phase` under `limit`, its error as the reason an attempt failed.
async fn within<T>(
    channel: &SmtpChannel,
    limit: Duration,
    phase: &str,
    work: impl Future<Output = Result<T, lettre::transport::smtp::Error>>,
) -> Result<T, String> {
    let at = format!("{}:{}", channel.host, port(channel));
    match tokio::time::timeout(limit, work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) if e.is_timeout() => Err(format!(
            "{at}: {phase} timed out after {}s",
            limit.as_secs()
        )),
        Ok(Err(e)) => Err(format!("{at}: {phase}: {}", error_chain(&e))),
        Err(_) => Err(format!(
            "{at}: {phase} timed out after {}s (no answer)",
            limit.as_secs()
        )),
    }
}

/// The port when the channel gives none: the usual one for its TLS mode.
fn port(channel: &SmtpChannel) -> u16 {
    channel.port.unwrap_or(match channel.tls {
        SmtpTls::Starttls => 587,
        SmtpTls::Tls => 465,
        SmtpTls::None => 25,
    })
}

fn build_message(channel: &SmtpChannel, mail: Mail<'_>) -> Result<lettre::Message, String> {
    let from: Mailbox = channel
        .from
        .parse()
        .map_err(|e| format!("`from: {}` is not an address: {e}", channel.from))?;
    let mut to = Mailboxes::new();
    for address in &channel.to {
        to.push(
            address
                .parse()
                .map_err(|e| format!("`to: {address}` is not an address: {e}"))?,
        );
    }
    let mut builder = lettre::Message::builder()
        .from(from)
        .subject(mail.subject)
        .header(ContentType::TEXT_PLAIN);
    for address in to {
        builder = builder.to(address);
    }
    builder
        .body(mail.body.to_string())
        .map_err(|e| format!("cannot build the message: {e}"))
}

/// The public (webpki) roots, plus the channel's `ca_file` when it names one.
fn tls_parameters(channel: &SmtpChannel, root: &Path) -> Result<TlsParameters, String> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut builder = TlsParameters::builder(channel.host.clone())
        .certificate_store(CertificateStore::WebpkiRoots);
    if let Some(ca) = &channel.ca_file {
        let path = root.join(&ca.value);
        let pem = std::fs::read(&path)
            .map_err(|e| format!("cannot read ca_file `{}`: {e}", path.display()))?;
        let certificate = Certificate::from_pem(&pem)
            .map_err(|e| format!("ca_file `{}`: {e}", path.display()))?;
        builder = builder.add_root_certificate(certificate);
    }
    builder
        .build_rustls()
        .map_err(|e| format!("TLS settings: {}", error_chain(&e)))
}
