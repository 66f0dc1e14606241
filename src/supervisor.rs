//! Background work that is watched: a task that panics or exits is logged with its
//! reason and shown on `/readyz`.

use std::sync::Arc;

/// The background work of a console (inventory refresher, propagation watcher,
/// housekeeping), each a task whose end is noticed: a panic or an exit is logged with
/// its reason and shown on `/readyz` until the process restarts.
#[derive(Clone, Default)]
pub struct Supervisor {
    tasks: Arc<std::sync::Mutex<Vec<TaskStatus>>>,
    running: Arc<std::sync::Mutex<Vec<tokio::task::AbortHandle>>>,
}

/// The nice value of the threads that run the background work: when the request
/// handlers (nice 0) want the CPU too, Linux's scheduler gives these about a tenth of
/// their share (weight 110 against 1,024), and all of it when they are idle.
pub const BACKGROUND_NICE: i32 = 10;

/// Lowers the calling thread's scheduling priority to `BACKGROUND_NICE` (the threads it
/// starts inherit it). On Linux a thread's nice value is its own: `setpriority` on the
/// caller changes this thread only. Where it fails, the thread keeps its priority.
pub fn lower_this_threads_priority() {
    if let Err(e) = rustix::process::setpriority_process(None, BACKGROUND_NICE) {
        tracing::debug!(error = %e, "the background thread's priority was not lowered");
    }
}

/// A supervised task: its name, and why it stopped if it did.
#[derive(Debug, Clone)]
pub struct TaskStatus {
    pub name: &'static str,
    pub stopped: Option<String>,
}

impl Supervisor {
    /// Runs `task` under supervision.
    pub fn spawn(
        &self,
        name: &'static str,
        task: impl std::future::Future<Output = ()> + Send + 'static,
    ) {
        let handle = tokio::spawn(task);
        if let Ok(mut running) = self.running.lock() {
            running.push(handle.abort_handle());
        }
        if let Ok(mut tasks) = self.tasks.lock() {
            tasks.push(TaskStatus {
                name,
                stopped: None,
            });
        }
        let tasks = self.tasks.clone();
        tokio::spawn(async move {
            let reason = match handle.await {
                Ok(()) => "exited".to_owned(),
                // Aborted at shutdown: nothing went wrong.
                Err(e) if e.is_cancelled() => return,
                Err(e) => match e.try_into_panic() {
                    Ok(panic) => format!("panicked: {}", panic_message(panic.as_ref())),
                    Err(e) => format!("failed: {e}"),
                },
            };
            tracing::error!(task = name, reason, "a background task stopped");
            if let Ok(mut tasks) = tasks.lock()
                && let Some(status) = tasks
                    .iter_mut()
                    .find(|t| t.name == name && t.stopped.is_none())
            {
                status.stopped = Some(reason);
            }
        });
    }

    /// Every supervised task and whether it still runs.
    pub fn statuses(&self) -> Vec<TaskStatus> {
        self.tasks.lock().map(|t| t.clone()).unwrap_or_default()
    }

    /// Stops every task (at shutdown).
    pub fn abort_all(&self) {
        if let Ok(running) = self.running.lock() {
            for task in running.iter() {
                task.abort();
            }
        }
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_background_priority_is_the_calling_threads_only() {
        use rustix::process::getpriority_process;
        let before = getpriority_process(None).expect("this thread's priority");
        let (lowered, inherited) = std::thread::spawn(|| {
            lower_this_threads_priority();
            let lowered = getpriority_process(None).expect("the priority");
            let inherited = std::thread::spawn(|| getpriority_process(None).expect("inherited"))
                .join()
                .expect("the inner thread");
            (lowered, inherited)
        })
        .join()
        .expect("the thread");
        // Not below what it was: an unprivileged process cannot raise it back.
        assert_eq!(lowered, BACKGROUND_NICE.max(before));
        assert_eq!(inherited, lowered, "threads it starts inherit it");
        assert_eq!(
            getpriority_process(None).expect("this thread's priority"),
            before,
            "the thread that started it keeps its own"
        );
    }
}
