//! The one fan-out: work on many targets at once, at most `limit` at a time (`ssh.forks`), so
//! stages, configs, infra, ping and facts all load nodes and sshd the same way.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// A task that panicked: its message, so the caller can fail that one item with a reason
/// instead of the whole process going down (or a run staying `running` forever).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskPanic(pub String);

impl std::fmt::Display for TaskPanic {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "internal error (a baton task panicked): {}", self.0)
    }
}

/// Run `work` on every item, at most `limit` (at least 1) at once; results come back in the
/// items' order.
pub async fn fan_out<T, R, F, Fut>(
    items: Vec<T>,
    limit: usize,
    work: F,
) -> Vec<Result<R, TaskPanic>>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(limit.max(1)));
    let work = Arc::new(work);
    let mut running = JoinSet::new();
    let count = items.len();
    let mut ids = std::collections::HashMap::new();
    for (index, item) in items.into_iter().enumerate() {
        let (permits, work) = (permits.clone(), work.clone());
        let handle = running.spawn(async move {
            let _permit = permits.acquire_owned().await;
            (index, work(item).await)
        });
        ids.insert(handle.id(), index);
    }
    let mut results: Vec<Option<Result<R, TaskPanic>>> = (0..count).map(|_| None).collect();
    while let Some(joined) = running.join_next_with_id().await {
        match joined {
            Ok((_, (index, result))) => results[index] = Some(Ok(result)),
            Err(e) => {
                let index = ids[&e.id()];
                let message = if e.is_panic() {
                    panic_message(e.into_panic())
                } else {
                    "the task was cancelled".to_string()
                };
                results[index] = Some(Err(TaskPanic(message)));
            }
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(TaskPanic("the task never ran".into()))))
        .collect()
}

/// The text of a panic payload (`panic!("…")` gives a `&str` or a `String`).
pub fn panic_message(payload: Box<dyn std::any::Any + Send>) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "no message".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bounded_ordered_and_panics_are_results() {
        let now = Arc::new(AtomicUsize::new(0));
        let peak = Arc::new(AtomicUsize::new(0));
        let (n, p) = (now.clone(), peak.clone());
        let results = fan_out((0..20).collect(), 3, move |i: u32| {
            let (now, peak) = (n.clone(), p.clone());
            async move {
                let running = now.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(running, Ordering::SeqCst);
                tokio::task::yield_now().await;
                now.fetch_sub(1, Ordering::SeqCst);
                if i == 7 {
                    panic!("boom at {i}");
                }
                i * 2
            }
        })
        .await;
        assert!(peak.load(Ordering::SeqCst) <= 3);
        assert_eq!(results.len(), 20);
        assert_eq!(results[3], Ok(6));
        assert_eq!(results[7], Err(TaskPanic("boom at 7".into())));
        assert_eq!(results[19], Ok(38));
    }
}
