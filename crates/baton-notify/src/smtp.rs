//! Mail through an SMTP server: lettre over rustls (ring), one connection per message.

use std::path::Path;

use baton_model::{SmtpChannel, SmtpTls};
use lettre::message::header::ContentType;
use lettre::message::{Mailbox, Mailboxes};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, CertificateStore, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Tokio1Executor};

/// What to send: a rendered subject and plain-text body.
pub(crate) struct Mail<'a> {
    pub subject: &'a str,
    pub body: &'a str,
}

/// Send `mail` through `channel`; `Ok` carries the server's final reply, `Err` the reason
/// (the server's reply when it gave one: `permanent error (535): …`).
pub(crate) async fn send(
    channel: &SmtpChannel,
    root: &Path,
    password: Option<String>,
    mail: Mail<'_>,
) -> Result<String, String> {
    let message = build_message(channel, mail)?;
    let transport = transport(channel, root, password)?;
    match transport.send(message).await {
        Ok(response) => {
            let text: Vec<&str> = response.message().collect();
            Ok(format!("{} {}", response.code(), text.join(" "))
                .trim()
                .to_string())
        }
        Err(e) if e.is_timeout() => Err(format!(
            "{}:{}: timed out after {}s ({e})",
            channel.host,
            port(channel),
            channel.timeout.as_secs()
        )),
        Err(e) => Err(format!("{}:{}: {}", channel.host, port(channel), chain(&e))),
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

/// The error with its causes: lettre puts the interesting part (a refused connection, an
/// unknown CA) in the source.
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
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

fn transport(
    channel: &SmtpChannel,
    root: &Path,
    password: Option<String>,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&channel.host)
        .port(port(channel))
        .timeout(Some(channel.timeout));
    builder = match channel.tls {
        SmtpTls::None => builder.tls(Tls::None),
        SmtpTls::Starttls => builder.tls(Tls::Required(tls_parameters(channel, root)?)),
        SmtpTls::Tls => builder.tls(Tls::Wrapper(tls_parameters(channel, root)?)),
    };
    if let Some(user) = &channel.user {
        builder = builder.credentials(Credentials::new(user.clone(), password.unwrap_or_default()));
    }
    Ok(builder.build())
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
        .map_err(|e| format!("TLS settings: {}", chain(&e)))
}
