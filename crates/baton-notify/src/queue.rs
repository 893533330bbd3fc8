//! Queueing a rendered message: one delivery per channel, all or none checked first.

use baton_model::Project;
use baton_store::{DeliveryId, NewDelivery, Store};

use crate::NotifyError;
use crate::message::Message;

/// Queue `message` once per channel of `channels`, as coming from `origin`. Every name is
/// checked before anything is queued: an unknown one queues nothing.
pub fn enqueue_message(
    store: &dyn Store,
    project: &Project,
    channels: &[String],
    origin: &str,
    message: &Message,
) -> Result<Vec<DeliveryId>, NotifyError> {
    let mut resolved = Vec::with_capacity(channels.len());
    for name in channels {
        let channel = project
            .notifications
            .get(name)
            .ok_or_else(|| NotifyError::unknown_channel(name, project))?;
        resolved.push(channel);
    }
    let mut ids = Vec::with_capacity(resolved.len());
    for channel in resolved {
        ids.push(store.enqueue_delivery(&NewDelivery {
            channel: channel.name.clone(),
            origin: origin.to_string(),
            subject: message.subject.clone(),
            body: message.body.clone(),
            payload: message.payload.clone(),
            max_retries: channel.retries,
        })?);
    }
    Ok(ids)
}
