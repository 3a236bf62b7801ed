//! A rate over the last N outcomes, published as a gauge. The design note
//! asks for "rolling window" gauges; a count window (rather than a time
//! window) keeps the figure meaningful on a quiet day, and the counters
//! beside each gauge let PromQL compute time-windowed rates as well.

use std::collections::VecDeque;
use std::sync::atomic::AtomicU64;
use std::sync::Mutex;

use prometheus_client::metrics::gauge::Gauge;

pub struct RollingRate {
    capacity: usize,
    /// The outcomes in the window and how many of them are hits (kept, not
    /// recounted: recording is on hot paths).
    window: Mutex<(VecDeque<bool>, usize)>,
    gauge: Gauge<f64, AtomicU64>,
}

impl RollingRate {
    /// The gauge reads NaN until the first outcome: no data, rather than a 0 % rate.
    pub fn new(capacity: usize) -> Self {
        let gauge = Gauge::default();
        gauge.set(f64::NAN);
        RollingRate {
            capacity,
            window: Mutex::new((VecDeque::with_capacity(capacity), 0)),
            gauge,
        }
    }

    /// The gauge to register; it reads the share of `true` outcomes.
    pub fn gauge(&self) -> Gauge<f64, AtomicU64> {
        self.gauge.clone()
    }

    pub fn record(&self, hit: bool) {
        let mut w = self.window.lock().unwrap_or_else(|p| p.into_inner());
        let (outcomes, hits) = &mut *w;
        if outcomes.len() == self.capacity && outcomes.pop_front() == Some(true) {
            *hits -= 1;
        }
        outcomes.push_back(hit);
        *hits += usize::from(hit);
        self.gauge.set(*hits as f64 / outcomes.len() as f64);
    }

    pub fn value(&self) -> f64 {
        self.gauge.get()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_covers_only_the_last_outcomes() {
        let r = RollingRate::new(4);
        assert!(r.value().is_nan(), "no outcome yet is no data");
        for hit in [true, true, true, true] {
            r.record(hit);
        }
        assert_eq!(r.value(), 1.0);
        r.record(false);
        r.record(false);
        assert_eq!(r.value(), 0.5);
    }
}
