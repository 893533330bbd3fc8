//! The conformance kit's cases for the notification delivery queue ([`crate::NotifyStore`]),
//! re-exported by `conformance`.

use std::collections::HashSet;

use crate::{DeliveryFilter, DeliveryStatus, NewDelivery, Store, now_millis};

fn delivery(channel: &str, origin: &str) -> NewDelivery {
    NewDelivery {
        channel: channel.into(),
        origin: origin.into(),
        subject: format!("about {origin}"),
        body: "line one\nline two\n".into(),
        payload: serde_json::json!({ "kind": "run", "run": 7 }),
        max_retries: 2,
    }
}

pub fn deliveries_are_queued_retried_and_recorded(store: &dyn Store) {
    let now = now_millis();
    assert_eq!(store.next_delivery_due().unwrap(), None);
    let mail = store.enqueue_delivery(&delivery("mail", "run:7")).unwrap();
    let hook = store.enqueue_delivery(&delivery("chat", "run:7")).unwrap();
    let other = store.enqueue_delivery(&delivery("mail", "test")).unwrap();
    let queued = store.delivery(mail).unwrap().unwrap();
    assert_eq!(queued.status, DeliveryStatus::Queued);
    assert_eq!((queued.attempts, queued.max_retries), (0, 2));
    assert_eq!(queued.payload["run"], 7);
    assert_eq!(queued.body, "line one\nline two\n");
    assert!(queued.created_at >= now && queued.sent_at.is_none());
    assert!(store.next_delivery_due().unwrap().is_some());

    // `only` restricts a claim to the given ids.
    let claimed = store
        .claim_deliveries("w1", now_millis(), 60_000, 10, Some(&[mail, hook]))
        .unwrap();
    assert_eq!(
        claimed.iter().map(|d| d.id).collect::<Vec<_>>(),
        [mail, hook]
    );
    assert!(
        claimed
            .iter()
            .all(|d| d.claimed_by.as_deref() == Some("w1"))
    );
    assert!(
        store
            .claim_deliveries("w2", now_millis(), 60_000, 10, Some(&[mail]))
            .unwrap()
            .is_empty(),
        "a claimed delivery is not claimed again while its lease lasts"
    );

    // A failure with a retry time: retrying, not due before it.
    let at = now_millis();
    assert!(
        !store
            .delivery_failed(mail, "w2", at, "not mine", None)
            .unwrap()
    );
    assert!(
        store
            .delivery_failed(mail, "w1", at, "421 busy", Some(at + 10_000))
            .unwrap()
    );
    let retrying = store.delivery(mail).unwrap().unwrap();
    assert_eq!(retrying.status, DeliveryStatus::Retrying);
    assert_eq!(retrying.attempts, 1);
    assert_eq!(retrying.last_error.as_deref(), Some("421 busy"));
    assert_eq!(retrying.next_attempt_at, at + 10_000);
    assert!(retrying.claimed_by.is_none());
    assert!(
        store
            .claim_deliveries("w1", at + 5_000, 60_000, 10, Some(&[mail]))
            .unwrap()
            .is_empty(),
        "not due yet"
    );
    let again = store
        .claim_deliveries("w1", at + 10_000, 60_000, 10, Some(&[mail]))
        .unwrap();
    assert_eq!(again.len(), 1);
    // A permanent failure is final, with the reply kept.
    assert!(
        store
            .delivery_failed(mail, "w1", at + 10_001, "535 bad auth", None)
            .unwrap()
    );
    let failed = store.delivery(mail).unwrap().unwrap();
    assert_eq!(failed.status, DeliveryStatus::Failed);
    assert_eq!(failed.attempts, 2);
    assert_eq!(failed.last_error.as_deref(), Some("535 bad auth"));
    assert!(
        !store.delivery_sent(mail, "w1", at + 10_002, None).unwrap(),
        "a final delivery does not change"
    );

    assert!(
        store
            .delivery_sent(hook, "w1", at, Some("HTTP 200"))
            .unwrap()
    );
    let sent = store.delivery(hook).unwrap().unwrap();
    assert_eq!(
        (sent.status, sent.attempts, sent.sent_at),
        (DeliveryStatus::Sent, 1, Some(at))
    );

    let attempts = store.delivery_attempts(mail).unwrap();
    assert_eq!(
        attempts
            .iter()
            .map(|a| (a.attempt, a.ok, a.reply.as_deref(), a.worker.as_str()))
            .collect::<Vec<_>>(),
        [
            (1, false, Some("421 busy"), "w1"),
            (2, false, Some("535 bad auth"), "w1")
        ]
    );
    assert_eq!(
        store.delivery_attempts(hook).unwrap()[0].reply.as_deref(),
        Some("HTTP 200")
    );

    // Listings: newest first, by status, channel, origin, page.
    let ids = |filter: DeliveryFilter| {
        store
            .deliveries(&filter)
            .unwrap()
            .iter()
            .map(|d| d.id)
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(DeliveryFilter::default()), [other, hook, mail]);
    let by = |status| DeliveryFilter {
        status: Some(status),
        ..Default::default()
    };
    assert_eq!(ids(by(DeliveryStatus::Failed)), [mail]);
    assert_eq!(ids(by(DeliveryStatus::Queued)), [other]);
    let on = DeliveryFilter {
        channel: Some("mail".into()),
        ..Default::default()
    };
    assert_eq!(ids(on), [other, mail]);
    let of = DeliveryFilter {
        origin: Some("run:7".into()),
        limit: Some(1),
        ..Default::default()
    };
    assert_eq!(ids(of), [hook]);
    let page = DeliveryFilter {
        before: Some(hook),
        ..Default::default()
    };
    assert_eq!(ids(page), [mail]);
    assert_eq!(store.delivery(9_999).unwrap(), None);
}

pub fn a_delivery_is_claimed_by_one_worker(a: &dyn Store, b: &dyn Store) {
    let ids: Vec<_> = (0..40)
        .map(|i| {
            a.enqueue_delivery(&delivery("mail", &format!("run:{i}")))
                .unwrap()
        })
        .collect();
    // Two workers claiming in small batches at once, as two processes would.
    let (x, y) = crate::conformance::race(a, b, |i, s| {
        let worker = format!("w{i}");
        let mut mine = Vec::new();
        loop {
            let got = s
                .claim_deliveries(&worker, now_millis(), 60_000, 3, None)
                .unwrap();
            if got.is_empty() {
                break;
            }
            for d in got {
                assert_eq!(d.claimed_by.as_deref(), Some(worker.as_str()));
                assert!(s.delivery_sent(d.id, &worker, now_millis(), None).unwrap());
                mine.push(d.id);
            }
        }
        mine
    });
    let x_set: HashSet<_> = x.iter().copied().collect();
    assert!(
        y.iter().all(|id| !x_set.contains(id)),
        "no delivery sent twice"
    );
    let mut all: Vec<_> = x.into_iter().chain(y).collect();
    all.sort();
    assert_eq!(all, ids, "every delivery sent once");
    assert_eq!(b.next_delivery_due().unwrap(), None);

    // A worker that died mid-send: its lease runs out and another takes the delivery over;
    // the dead one's late outcome is refused.
    let id = a.enqueue_delivery(&delivery("mail", "alert:x@y")).unwrap();
    let now = now_millis();
    assert_eq!(
        a.claim_deliveries("dead", now, 1_000, 1, None)
            .unwrap()
            .len(),
        1
    );
    assert!(
        b.claim_deliveries("alive", now + 500, 1_000, 1, None)
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        b.next_delivery_due().unwrap(),
        Some(now + 1_000),
        "due when the lease ends"
    );
    assert_eq!(
        b.claim_deliveries("alive", now + 1_000, 1_000, 1, None)
            .unwrap()[0]
            .id,
        id
    );
    assert!(!a.delivery_sent(id, "dead", now + 1_100, None).unwrap());
    assert!(b.delivery_sent(id, "alive", now + 1_100, None).unwrap());
    let attempts = a.delivery_attempts(id).unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].worker, "alive");
}
