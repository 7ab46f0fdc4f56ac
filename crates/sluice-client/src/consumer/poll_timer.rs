//! `max.poll.interval.ms` bookkeeping (the poll timer of Kafka's Heartbeat): the consumer marks
//! every `poll` call, the group members' heartbeat tasks ask when the interval runs out. The
//! interval is measured from the end of one `poll` to the start of the next; while a `poll` is
//! running (it may wait for records or a rebalance) the timer never expires. Pure bookkeeping:
//! no I/O, no waiting.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug)]
struct State {
    /// When the last `poll` returned (or the consumer was created).
    last: Instant,
    /// Number of `poll` calls running now (0 or 1 for a `&mut self` API; a count keeps a
    /// dropped, cancelled poll future from confusing the timer).
    in_poll: u32,
}

/// Shared between a consumer and the heartbeat task of its group membership.
#[derive(Debug)]
pub struct PollTimer {
    max: Duration,
    state: Mutex<State>,
}

impl PollTimer {
    pub fn new(max_poll_interval: Duration) -> Arc<Self> {
        Arc::new(PollTimer {
            max: max_poll_interval,
            state: Mutex::new(State {
                last: Instant::now(),
                in_poll: 0,
            }),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `max.poll.interval.ms`.
    pub fn max_interval(&self) -> Duration {
        self.max
    }

    /// Marks a `poll` in progress until the guard drops (when the call returns or is
    /// cancelled); the interval restarts then.
    pub fn enter(self: &Arc<Self>) -> PollGuard {
        self.lock().in_poll += 1;
        PollGuard {
            timer: self.clone(),
        }
    }

    /// When the interval runs out (`None` while a `poll` is running).
    pub fn deadline(&self) -> Option<Instant> {
        let st = self.lock();
        (st.in_poll == 0).then(|| st.last + self.max)
    }

    /// True when the application has not called `poll` for longer than the interval.
    pub fn expired(&self) -> bool {
        self.deadline().is_some_and(|d| Instant::now() >= d)
    }
}

/// A `poll` in progress (see [`PollTimer::enter`]).
pub struct PollGuard {
    timer: Arc<PollTimer>,
}

impl Drop for PollGuard {
    fn drop(&mut self) {
        let mut st = self.timer.lock();
        st.in_poll = st.in_poll.saturating_sub(1);
        st.last = Instant::now();
    }
}

/// The warning Kafka's consumers log when the heartbeat task gives up the membership.
pub(crate) fn warn_poll_timeout(group: &str, max: Duration) {
    tracing::warn!(
        "group {group}: consumer poll timeout has expired: poll() was not called within max.poll.interval.ms ({} ms), so this member leaves the group and its partitions are lost; the next poll() rejoins. Processing the records of one poll takes too long: raise max.poll.interval.ms or lower max.poll.records.",
        max.as_millis()
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_expires_during_a_poll_and_restarts_after_it() {
        let t = PollTimer::new(Duration::from_millis(0));
        assert!(t.expired(), "a zero interval is over at once outside poll");
        let g = t.enter();
        assert!(!t.expired());
        assert!(t.deadline().is_none());
        drop(g);
        let t = PollTimer::new(Duration::from_secs(3600));
        let before = Instant::now();
        drop(t.enter());
        let d = t.deadline().expect("deadline outside poll");
        assert!(d >= before + Duration::from_secs(3600));
        assert!(!t.expired());
    }

    #[test]
    fn a_cancelled_poll_still_ends() {
        let t = PollTimer::new(Duration::from_millis(0));
        let g1 = t.enter();
        let g2 = t.enter();
        drop(g1);
        assert!(t.deadline().is_none(), "one poll still running");
        drop(g2);
        assert!(t.deadline().is_some());
    }
}
