//! Drift: the population stability index (PSI) of the confidence and
//! predicted-label distributions of recent decisions against a baseline
//! (the model's decisions on its held-out split).
//!
//! PSI = Σ (aᵢ − eᵢ) · ln(aᵢ / eᵢ) over bins, with empty bins floored at
//! [`FLOOR`] so one unseen label does not make it infinite. The usual reading
//! (the default [`Thresholds`]): below 0.1 stable, 0.1–0.25 watch, above 0.25
//! the population has shifted.

use serde::{Deserialize, Serialize};

use crate::Intent;

/// Confidence bins of equal width.
pub const CONFIDENCE_BINS: usize = 10;
const FLOOR: f64 = 1e-4;

/// PSI above `watch` is worth a look; above `alert` it raises an alert.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Thresholds {
    pub watch: f64,
    pub alert: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds {
            watch: 0.1,
            alert: 0.25,
        }
    }
}

/// Shares per bin of a set of decisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Profile {
    pub n: usize,
    pub confidence: [f64; CONFIDENCE_BINS],
    pub labels: [f64; Intent::COUNT],
}

impl Profile {
    pub fn of(decisions: &[(Intent, f64)]) -> Profile {
        let mut confidence = [0f64; CONFIDENCE_BINS];
        let mut labels = [0f64; Intent::COUNT];
        for &(intent, c) in decisions {
            let b = ((c * CONFIDENCE_BINS as f64) as usize).min(CONFIDENCE_BINS - 1);
            confidence[b] += 1.0;
            labels[intent.index()] += 1.0;
        }
        let n = decisions.len().max(1) as f64;
        Profile {
            n: decisions.len(),
            confidence: confidence.map(|v| v / n),
            labels: labels.map(|v| v / n),
        }
    }
}

pub fn psi(expected: &[f64], actual: &[f64]) -> f64 {
    expected
        .iter()
        .zip(actual)
        .map(|(&e, &a)| {
            let (e, a) = (e.max(FLOOR), a.max(FLOOR));
            (a - e) * (a / e).ln()
        })
        .sum()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Stable,
    Watch,
    Alert,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    pub baseline: Profile,
    pub recent: Profile,
    pub confidence_psi: f64,
    pub label_psi: f64,
    pub status: Status,
}

pub fn report(baseline: Profile, recent: Profile, thresholds: Thresholds) -> DriftReport {
    let confidence_psi = psi(&baseline.confidence, &recent.confidence);
    let label_psi = psi(&baseline.labels, &recent.labels);
    let worst = confidence_psi.max(label_psi);
    let status = if worst > thresholds.alert {
        Status::Alert
    } else if worst > thresholds.watch {
        Status::Watch
    } else {
        Status::Stable
    };
    DriftReport {
        baseline,
        recent,
        confidence_psi,
        label_psi,
        status,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_populations_are_stable_and_a_shift_raises_an_alert() {
        let base: Vec<(Intent, f64)> = Intent::ALL.iter().map(|&i| (i, 0.95)).collect();
        let t = Thresholds::default();
        let same = report(Profile::of(&base), Profile::of(&base), t);
        assert_eq!(same.status, Status::Stable);
        assert!(same.confidence_psi.abs() < 1e-12 && same.label_psi.abs() < 1e-12);
        let shifted: Vec<(Intent, f64)> = (0..8).map(|_| (Intent::Spam, 0.45)).collect();
        let r = report(Profile::of(&base), Profile::of(&shifted), t);
        assert_eq!(r.status, Status::Alert);
        assert!(r.label_psi > t.alert && r.confidence_psi > t.alert);
        let lenient = Thresholds {
            watch: 50.0,
            alert: 100.0,
        };
        let r = report(Profile::of(&base), Profile::of(&shifted), lenient);
        assert_eq!(r.status, Status::Stable);
        // Hand-computed: two bins of 0.5/0.5 against 0.9/0.1.
        let p = psi(&[0.5, 0.5], &[0.9, 0.1]);
        let expected = 0.4 * (0.9f64 / 0.5).ln() + (-0.4) * (0.1f64 / 0.5).ln();
        assert!((p - expected).abs() < 1e-12);
    }
}
