//! Webhook deliveries: a JSON POST (the message's fields, or Slack's `{"text": …}`), signed
//! with `X-Baton-Signature: sha256=HEX` when the channel names a secret.

use baton_model::diagnostic::error_chain;
use baton_model::{WebhookChannel, WebhookFormat};
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

/// The header carrying the body's HMAC-SHA256.
pub const SIGNATURE_HEADER: &str = "X-Baton-Signature";

/// The header carrying the delivery's id: the same on every attempt, so a receiver can drop a
/// repeat (an attempt whose answer was lost is tried again).
pub const DELIVERY_HEADER: &str = "X-Baton-Delivery";

/// How much of a refusing server's body is kept as the reason.
const REPLY_LIMIT: usize = 512;

/// The body a channel posts for a message.
pub(crate) fn body(format: WebhookFormat, subject: &str, text: &str, payload: &Value) -> Vec<u8> {
    let value = match format {
        WebhookFormat::Slack => json!({ "text": format!("{subject}\n{text}") }),
        WebhookFormat::Json => {
            let mut fields = match payload {
                Value::Object(map) => map.clone(),
                _ => serde_json::Map::new(),
            };
            fields.insert("subject".into(), json!(subject));
            fields.insert("text".into(), json!(text));
            Value::Object(fields)
        }
    };
    serde_json::to_vec(&value).expect("JSON values serialize")
}

/// `sha256=HEX` of HMAC-SHA256(secret, body).
pub fn signature(secret: &[u8], body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(body);
    format!("sha256={}", hex::encode(mac.finalize().into_bytes()))
}

/// POST `body` to the channel's (rendered) `url`; `Ok` is the status line of a 2xx answer,
/// `Err` the reason (the status and the start of the server's body).
pub(crate) async fn send(
    client: &reqwest::Client,
    channel: &WebhookChannel,
    url: &str,
    secret: Option<&str>,
    delivery: i64,
    body: Vec<u8>,
) -> Result<String, String> {
    let mut request = client
        .post(url)
        .timeout(channel.timeout)
        .header("content-type", "application/json")
        .header(DELIVERY_HEADER, delivery.to_string());
    for (name, value) in &channel.headers {
        request = request.header(name.as_str(), value.as_str());
    }
    if let Some(secret) = secret {
        request = request.header(SIGNATURE_HEADER, signature(secret.as_bytes(), &body));
    }
    let response = request.body(body).send().await.map_err(|e| {
        if e.is_timeout() {
            format!("{url}: timed out after {}s", channel.timeout.as_secs())
        } else {
            format!("{url}: {}", error_chain(&e))
        }
    })?;
    let status = response.status();
    let text = response.text().await.unwrap_or_default();
    let reply: String = text.trim().chars().take(REPLY_LIMIT).collect();
    let line = match reply.is_empty() {
        true => format!("HTTP {}", status.as_u16()),
        false => format!("HTTP {}: {reply}", status.as_u16()),
    };
    if status.is_success() {
        Ok(line)
    } else {
        Err(line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_the_hmac_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn bodies_carry_the_fields_or_slack_text() {
        let payload = json!({ "kind": "alert", "node": "web01" });
        let json: Value =
            serde_json::from_slice(&body(WebhookFormat::Json, "S", "T\n", &payload)).unwrap();
        assert_eq!(
            json,
            json!({ "kind": "alert", "node": "web01", "subject": "S", "text": "T\n" })
        );
        let slack: Value =
            serde_json::from_slice(&body(WebhookFormat::Slack, "S", "T\n", &payload)).unwrap();
        assert_eq!(slack, json!({ "text": "S\nT\n" }));
    }
}
