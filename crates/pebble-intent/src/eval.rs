//! Evaluation: per-class precision/recall/F1, macro-F1, accuracy, expected
//! calibration error and the confusion matrix.

use serde::{Deserialize, Serialize};

use crate::Intent;

/// Bins of equal width over confidence for the calibration error.
pub const ECE_BINS: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub label: Intent,
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evaluation {
    pub n: usize,
    pub accuracy: f64,
    pub macro_f1: f64,
    /// Expected calibration error of the top-class confidence.
    pub ece: f64,
    pub per_class: Vec<ClassMetrics>,
    /// `confusion[true][predicted]`, both in [`Intent::ALL`] order.
    pub confusion: Vec<Vec<usize>>,
}

/// One scored decision: the truth, the prediction and its confidence.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub truth: Intent,
    pub predicted: Intent,
    pub confidence: f64,
}

pub fn evaluate(outcomes: &[Outcome]) -> Evaluation {
    let k = Intent::COUNT;
    let mut confusion = vec![vec![0usize; k]; k];
    for o in outcomes {
        confusion[o.truth.index()][o.predicted.index()] += 1;
    }
    let per_class: Vec<ClassMetrics> = Intent::ALL
        .iter()
        .map(|&label| {
            let c = label.index();
            let tp = confusion[c][c] as f64;
            let predicted: usize = confusion.iter().map(|row| row[c]).sum();
            let support: usize = confusion[c].iter().sum();
            let precision = ratio(tp, predicted as f64);
            let recall = ratio(tp, support as f64);
            let f1 = ratio(2.0 * precision * recall, precision + recall);
            ClassMetrics {
                label,
                precision,
                recall,
                f1,
                support,
            }
        })
        .collect();
    let present: Vec<&ClassMetrics> = per_class.iter().filter(|c| c.support > 0).collect();
    let macro_f1 = ratio(present.iter().map(|c| c.f1).sum(), present.len() as f64);
    let correct = outcomes.iter().filter(|o| o.truth == o.predicted).count();
    Evaluation {
        n: outcomes.len(),
        accuracy: ratio(correct as f64, outcomes.len() as f64),
        macro_f1,
        ece: expected_calibration_error(outcomes),
        per_class,
        confusion,
    }
}

fn ratio(a: f64, b: f64) -> f64 {
    if b > 0.0 {
        a / b
    } else {
        0.0
    }
}

/// Σ over equal-width confidence bins of (bin share × |accuracy − mean confidence|).
pub fn expected_calibration_error(outcomes: &[Outcome]) -> f64 {
    let mut bins = [(0usize, 0f64, 0f64); ECE_BINS];
    for o in outcomes {
        let b = ((o.confidence * ECE_BINS as f64) as usize).min(ECE_BINS - 1);
        bins[b].0 += 1;
        bins[b].1 += o.confidence;
        bins[b].2 += f64::from(u8::from(o.truth == o.predicted));
    }
    let n = outcomes.len() as f64;
    bins.iter()
        .filter(|b| b.0 > 0)
        .map(|&(count, conf, acc)| {
            let c = count as f64;
            (c / n) * (acc / c - conf / c).abs()
        })
        .sum()
}

impl Evaluation {
    /// A human-readable report: headline figures, per-class table, confusion matrix.
    pub fn render(&self) -> String {
        use std::fmt::Write;
        let mut s = String::new();
        let _ = writeln!(
            s,
            "n={}  accuracy={:.3}  macro-F1={:.3}  ECE={:.3}",
            self.n, self.accuracy, self.macro_f1, self.ece
        );
        let _ = writeln!(
            s,
            "\n{:<16} {:>9} {:>7} {:>6} {:>8}",
            "label", "precision", "recall", "F1", "support"
        );
        for c in &self.per_class {
            let _ = writeln!(
                s,
                "{:<16} {:>9.3} {:>7.3} {:>6.3} {:>8}",
                c.label.as_str(),
                c.precision,
                c.recall,
                c.f1,
                c.support
            );
        }
        let short = [
            "inq", "po", "follow", "pay", "compl", "vendor", "spam", "other",
        ];
        let _ = write!(
            s,
            "\nconfusion (rows = true, columns = predicted)\n{:<16}",
            ""
        );
        for h in short {
            let _ = write!(s, "{h:>7}");
        }
        s.push('\n');
        for (i, row) in self.confusion.iter().enumerate() {
            let _ = write!(s, "{:<16}", Intent::ALL[i].as_str());
            for v in row {
                let _ = write!(s, "{v:>7}");
            }
            s.push('\n');
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_match_a_hand_count() {
        let o = |t, p, c| Outcome {
            truth: t,
            predicted: p,
            confidence: c,
        };
        let e = evaluate(&[
            o(Intent::Spam, Intent::Spam, 0.95),
            o(Intent::Spam, Intent::Other, 0.55),
            o(Intent::Other, Intent::Other, 0.65),
            o(Intent::Other, Intent::Other, 0.95),
        ]);
        assert_eq!(e.confusion[Intent::Spam.index()][Intent::Other.index()], 1);
        let spam = &e.per_class[Intent::Spam.index()];
        assert_eq!((spam.precision, spam.recall), (1.0, 0.5));
        let other = &e.per_class[Intent::Other.index()];
        assert!((other.precision - 2.0 / 3.0).abs() < 1e-9);
        assert!((e.macro_f1 - (2.0 / 3.0 + 0.8) / 2.0).abs() < 1e-9);
        // Bins: 0.9 {0.95 ✓, 0.95 ✓} → 0.05·½; 0.5 {0.55 ✗} → 0.55·¼; 0.6 {0.65 ✓} → 0.35·¼.
        assert!(
            (e.ece - (0.025 + 0.1375 + 0.0875)).abs() < 1e-9,
            "{}",
            e.ece
        );
    }
}
