//! A circuit breaker on the injectable clock: after `threshold` consecutive
//! failures Tally is left alone for `cooldown`; then one probe is let through,
//! which closes the breaker on success and re-opens it on failure.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;

use crate::clock::Clock;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    Closed,
    Open,
    HalfOpen,
}

impl BreakerState {
    pub fn as_str(self) -> &'static str {
        match self {
            BreakerState::Closed => "closed",
            BreakerState::Open => "open",
            BreakerState::HalfOpen => "half_open",
        }
    }
}

#[derive(Debug)]
struct Inner {
    failures: u32,
    opened_at: Option<DateTime<Utc>>,
    probing: bool,
}

pub struct Breaker {
    clock: Arc<dyn Clock>,
    threshold: u32,
    cooldown: Duration,
    inner: Mutex<Inner>,
}

impl Breaker {
    pub fn new(clock: Arc<dyn Clock>, threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            clock,
            threshold: threshold.max(1),
            cooldown,
            inner: Mutex::new(Inner {
                failures: 0,
                opened_at: None,
                probing: false,
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic elsewhere while holding this lock leaves plain counters behind: still usable.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn state(&self) -> BreakerState {
        let inner = self.lock();
        match inner.opened_at {
            None => BreakerState::Closed,
            Some(at) if self.clock.now() - at < self.cooldown && !inner.probing => {
                BreakerState::Open
            }
            Some(_) => BreakerState::HalfOpen,
        }
    }

    /// May a request go to Tally now? In the half-open state only one probe
    /// at a time is allowed.
    pub fn allow(&self) -> bool {
        let mut inner = self.lock();
        match inner.opened_at {
            None => true,
            Some(at) => {
                if self.clock.now() - at < self.cooldown || inner.probing {
                    false
                } else {
                    inner.probing = true;
                    true
                }
            }
        }
    }

    pub fn success(&self) {
        let mut inner = self.lock();
        inner.failures = 0;
        inner.opened_at = None;
        inner.probing = false;
    }

    pub fn failure(&self) {
        let mut inner = self.lock();
        inner.failures = inner.failures.saturating_add(1);
        if inner.probing || inner.failures >= self.threshold {
            inner.opened_at = Some(self.clock.now());
        }
        inner.probing = false;
    }

    /// A request that was allowed but never reached Tally (e.g. the
    /// single-flight slot was busy) gives its probe back.
    pub fn release(&self) {
        self.lock().probing = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    #[test]
    fn the_breaker_opens_after_the_threshold_and_closes_after_a_good_probe() {
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let b = Breaker::new(clock.clone(), 2, Duration::seconds(30));
        b.failure();
        assert_eq!(b.state(), BreakerState::Closed);
        b.failure();
        assert_eq!(b.state(), BreakerState::Open);
        assert!(!b.allow());
        clock.advance(Duration::seconds(31));
        assert!(b.allow(), "one probe after the cool-down");
        assert!(!b.allow(), "only one probe at a time");
        b.failure();
        assert_eq!(b.state(), BreakerState::Open, "a failed probe re-opens");
        clock.advance(Duration::seconds(31));
        assert!(b.allow());
        b.success();
        assert_eq!(b.state(), BreakerState::Closed);
        assert!(b.allow());
    }
}
