//! Multinomial logistic regression over hashed features, trained by SGD
//! with L2, calibrated by temperature scaling, serialised compactly.

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::io::{Read, Write};

use serde::{Deserialize, Serialize};

use crate::corpus::{snapshot_hash, split, Example, Part};
use crate::drift::Profile;
use crate::eval::{evaluate, Evaluation, Outcome};
use crate::features::{FnvBuild, Hashed, Hasher, Phrase, Prepared, Vector};
use crate::Intent;

const K: usize = Intent::COUNT;
const MAGIC: &[u8; 8] = b"PBLINT1\n";
/// A model file larger than this is refused before decompression finishes.
const MAX_MODEL_BYTES: u64 = 64 << 20;

/// Training hyper-parameters. The defaults were chosen by macro-F1 on the
/// calibration split (`examples/tune.rs`), never on the test split.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    /// Feature buckets are `2^bits`.
    pub bits: u32,
    pub epochs: u32,
    pub learning_rate: f32,
    /// L2 strength, applied to the weights an example touches.
    pub l2: f32,
    /// Seeds the example order of every epoch.
    pub seed: u64,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            bits: 18,
            epochs: 25,
            learning_rate: 2.0,
            l2: 1e-4,
            seed: 42,
        }
    }
}

/// What a model file says about itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMeta {
    /// `intent-<first 12 hex of the content hash>`, stable for a given model.
    pub version: String,
    pub config: TrainConfig,
    /// Divides the logits before softmax; fitted on the calibration split.
    pub temperature: f32,
    /// SHA-256 of the training data ([`crate::corpus::snapshot_hash`]).
    pub training_snapshot: String,
    pub train_examples: usize,
    /// Held-out evaluation recorded at training time.
    pub evaluation: Option<Evaluation>,
    /// The model's own decisions on the held-out split: what drift is
    /// measured against.
    #[serde(default)]
    pub baseline: Option<Profile>,
}

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("not a Pebble intent model (bad magic)")]
    BadMagic,
    #[error("model file is corrupt: {0}")]
    Corrupt(String),
    #[error("model file is larger than {MAX_MODEL_BYTES} bytes")]
    TooLarge,
}

/// A decision with its calibrated probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    pub intent: Intent,
    pub confidence: f64,
    pub probabilities: [f64; K],
}

/// A phrase that pushed the decision towards the predicted intent (against
/// the runner-up), with its share of the margin.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evidence {
    pub phrase: String,
    pub weight: f64,
}

#[derive(Debug, Clone)]
pub struct Model {
    pub meta: ModelMeta,
    hasher: Hasher,
    /// Feature-major: the K weights of bucket `b` are `weights[b*K..b*K+K]`,
    /// kept as the file stores them (i16 and one scale per class): half the
    /// memory of f32, so more of the rows an email touches stay in cache.
    weights: Vec<i16>,
    scales: [f32; K],
    bias: [f32; K],
}

/// SplitMix64: a tiny deterministic generator for shuffling.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

fn softmax(z: &[f32; K], temperature: f32) -> [f64; K] {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let mut p = [0f64; K];
    let mut sum = 0f64;
    for k in 0..K {
        p[k] = f64::from((z[k] - max) / temperature).exp();
        sum += p[k];
    }
    for v in &mut p {
        *v /= sum;
    }
    p
}

impl Model {
    /// Trains on `train`, then fits the temperature on `calibration`.
    /// Deterministic for a given config and input order.
    pub fn train(
        train: &[&Example],
        calibration: &[&Example],
        config: TrainConfig,
        training_snapshot: String,
    ) -> Model {
        let hasher = Hasher { bits: config.bits };
        let data: Vec<(Vector, usize)> = train
            .iter()
            .map(|e| {
                (
                    hasher.vector(&Prepared::new(&e.subject, &e.body)),
                    e.label.index(),
                )
            })
            .collect();
        let mut weights = vec![0f32; hasher.dim() * K];
        let mut bias = [0f32; K];
        let mut order: Vec<usize> = (0..data.len()).collect();
        let mut rng = Rng(config.seed);
        for epoch in 0..config.epochs {
            for i in (1..order.len()).rev() {
                let j = (rng.next() % (i as u64 + 1)) as usize;
                order.swap(i, j);
            }
            let lr = config.learning_rate / (1.0 + epoch as f32 * 0.5);
            for &n in &order {
                let (x, y) = &data[n];
                let z = logits(&bias, x, |b| {
                    let mut w = [0f32; K];
                    w.copy_from_slice(&weights[b * K..b * K + K]);
                    w
                });
                let p = softmax(&z, 1.0);
                let mut g = [0f32; K];
                for k in 0..K {
                    g[k] = p[k] as f32 - f32::from(u8::from(k == *y));
                }
                for (&i, &v) in x.idx.iter().zip(&x.val) {
                    let w = &mut weights[i as usize * K..i as usize * K + K];
                    for k in 0..K {
                        w[k] -= lr * (g[k] * v + config.l2 * w[k]);
                    }
                }
                for k in 0..K {
                    bias[k] -= lr * g[k];
                }
            }
        }
        let scales = scales(&weights);
        let weights = weights
            .iter()
            .enumerate()
            .map(|(i, w)| quantized(*w, scales[i % K]))
            .collect();
        let mut model = Model {
            meta: ModelMeta {
                version: String::new(),
                config,
                temperature: 1.0,
                training_snapshot,
                train_examples: train.len(),
                evaluation: None,
                baseline: None,
            },
            hasher,
            weights,
            scales,
            bias,
        };
        model.meta.temperature = model.fit_temperature(calibration);
        model.meta.version = model.content_version();
        model
    }

    /// The temperature minimising negative log-likelihood on `examples`
    /// (golden-section search over log T); 1 when there are none.
    pub fn fit_temperature(&self, examples: &[&Example]) -> f32 {
        if examples.is_empty() {
            return 1.0;
        }
        let scored: Vec<([f32; K], usize)> = examples
            .iter()
            .map(|e| {
                (
                    self.raw_logits(&Prepared::new(&e.subject, &e.body)),
                    e.label.index(),
                )
            })
            .collect();
        let nll = |log_t: f64| -> f64 {
            let t = log_t.exp() as f32;
            scored
                .iter()
                .map(|(z, y)| -(softmax(z, t)[*y].max(1e-12)).ln())
                .sum::<f64>()
        };
        let (mut a, mut b) = ((0.02f64).ln(), (20f64).ln());
        let phi = (5f64.sqrt() - 1.0) / 2.0;
        for _ in 0..60 {
            let c = b - phi * (b - a);
            let d = a + phi * (b - a);
            if nll(c) < nll(d) {
                b = d;
            } else {
                a = c;
            }
        }
        ((a + b) / 2.0).exp() as f32
    }

    /// The K weights of bucket `b`, each `q · scale` exactly as the file
    /// holds it, so a trained model and the same model loaded from disk
    /// decide identically.
    #[inline]
    fn row(&self, b: usize) -> [f32; K] {
        let q = &self.weights[b * K..b * K + K];
        std::array::from_fn(|k| f32::from(q[k]) * self.scales[k])
    }

    fn raw_logits(&self, p: &Prepared) -> [f32; K] {
        logits(&self.bias, &self.hasher.vector(p), |b| self.row(b))
    }

    pub fn predict_prepared(&self, p: &Prepared) -> Prediction {
        self.predict_vector(&self.hasher.vector(p))
    }

    fn predict_vector(&self, v: &Vector) -> Prediction {
        let probabilities = softmax(
            &logits(&self.bias, v, |b| self.row(b)),
            self.meta.temperature,
        );
        let best = (0..K)
            .max_by(|&a, &b| probabilities[a].total_cmp(&probabilities[b]))
            .unwrap_or(K - 1);
        Prediction {
            intent: Intent::ALL[best],
            confidence: probabilities[best],
            probabilities,
        }
    }

    pub fn predict(&self, subject: &str, body: &str) -> Prediction {
        self.predict_prepared(&Prepared::new(subject, body))
    }

    /// The decision and the `n` phrases that most favour it over the
    /// runner-up, from one hashing pass over the features.
    pub fn decide(&self, p: &Prepared, n: usize) -> (Prediction, Vec<Evidence>) {
        let features = self.hasher.hashed(p);
        let prediction = self.predict_vector(&self.hasher.vector_of(&features));
        let evidence = self.explain(&features, &prediction, n);
        (prediction, evidence)
    }

    fn explain<'a>(
        &self,
        features: &[Hashed<'a>],
        prediction: &Prediction,
        n: usize,
    ) -> Vec<Evidence> {
        let best = prediction.intent.index();
        let runner_up = (0..K)
            .filter(|&k| k != best)
            .max_by(|&a, &b| prediction.probabilities[a].total_cmp(&prediction.probabilities[b]))
            .unwrap_or(0);
        let mut scores: Vec<(Phrase<'_>, f64)> = Vec::with_capacity(features.len() / 4);
        // By the hash of the phrase's text: a 64-bit collision among one
        // email's few hundred phrases is not a practical concern.
        let mut seen: HashMap<u64, usize, FnvBuild> =
            HashMap::with_capacity_and_hasher(features.len() / 4, FnvBuild::default());
        let mut add = |phrase: Phrase<'a>, s: f64| match seen.entry(phrase.key()) {
            Entry::Occupied(e) => scores[*e.get()].1 += s,
            Entry::Vacant(e) => {
                e.insert(scores.len());
                scores.push((phrase, s));
            }
        };
        // A word's character n-grams come one after another: sum each run
        // before looking its phrase up.
        let mut run: Option<(Phrase<'a>, f64)> = None;
        for f in features {
            let (b, sign) = self.hasher.bucket(f.hash);
            let w = self.row(b as usize);
            let s = f64::from(sign * (w[best] - w[runner_up]));
            match &mut run {
                Some((p, sum)) if *p == f.phrase => *sum += s,
                _ => {
                    if let Some((p, sum)) = run.replace((f.phrase, s)) {
                        add(p, sum);
                    }
                }
            }
        }
        if let Some((p, sum)) = run {
            add(p, sum);
        }
        let mut shown: Vec<(Phrase<'_>, f64)> = scores
            .into_iter()
            .filter(|(phrase, s)| *s > 0.0 && phrase.has_letters())
            .collect();
        shown.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp_text(&b.0)));
        shown.truncate(n);
        shown
            .into_iter()
            .map(|(phrase, s)| Evidence {
                phrase: phrase.to_string(),
                weight: (s * 1000.0).round() / 1000.0,
            })
            .collect()
    }

    /// The whole recipe: split `corpus`, train on its training part plus
    /// every one of `corrections` (people's overrides: always trained on, so
    /// the held-out split stays the corpus's own and models stay comparable),
    /// fit the temperature on the calibration part, and record the held-out
    /// evaluation and decision profile in the model's metadata. The snapshot
    /// hash covers the corpus and the corrections.
    pub fn train_on(corpus: &[Example], corrections: &[Example], config: TrainConfig) -> Model {
        let parts = split(corpus);
        let pick = |part| -> Vec<&Example> {
            corpus
                .iter()
                .zip(&parts)
                .filter(|(_, p)| **p == part)
                .map(|(e, _)| e)
                .collect()
        };
        let mut train = pick(Part::Train);
        train.extend(corrections);
        let mut model = Model::train(
            &train,
            &pick(Part::Calibration),
            config,
            snapshot_hash(corpus.iter().chain(corrections)),
        );
        let test = pick(Part::Test);
        model.meta.evaluation = Some(model.evaluate(&test));
        model.meta.baseline = Some(model.profile(&test));
        model
    }

    /// The distribution of this model's decisions on `examples`.
    pub fn profile(&self, examples: &[&Example]) -> Profile {
        let decisions: Vec<(Intent, f64)> = examples
            .iter()
            .map(|e| {
                let p = self.predict(&e.subject, &e.body);
                (p.intent, p.confidence)
            })
            .collect();
        Profile::of(&decisions)
    }

    /// The held-out test part of `corpus` under the standard split.
    pub fn test_split(corpus: &[Example]) -> Vec<&Example> {
        corpus
            .iter()
            .zip(split(corpus))
            .filter(|(_, p)| *p == Part::Test)
            .map(|(e, _)| e)
            .collect()
    }

    /// Evaluates on labelled examples.
    pub fn evaluate(&self, examples: &[&Example]) -> Evaluation {
        let outcomes: Vec<Outcome> = examples
            .iter()
            .map(|e| {
                let p = self.predict(&e.subject, &e.body);
                Outcome {
                    truth: e.label,
                    predicted: p.intent,
                    confidence: p.confidence,
                }
            })
            .collect();
        evaluate(&outcomes)
    }

    /// Serialises: magic, then gzip of (metadata JSON length and bytes, the
    /// biases, one scale per class and the weights as i16).
    pub fn to_bytes(&self) -> Vec<u8> {
        let meta = serde_json::to_vec(&self.meta).unwrap_or_default();
        let mut raw = Vec::with_capacity(meta.len() + self.weights.len() * 2 + 96);
        raw.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        raw.extend_from_slice(&meta);
        raw.extend_from_slice(&self.meta.config.bits.to_le_bytes());
        for b in self.bias {
            raw.extend_from_slice(&b.to_le_bytes());
        }
        for s in self.scales {
            raw.extend_from_slice(&s.to_le_bytes());
        }
        for q in &self.weights {
            raw.extend_from_slice(&q.to_le_bytes());
        }
        let mut out = MAGIC.to_vec();
        let mut enc = flate2::write::GzEncoder::new(&mut out, flate2::Compression::best());
        // Writing into a Vec cannot fail.
        let _ = enc.write_all(&raw);
        let _ = enc.finish();
        out
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelError> {
        let body = bytes
            .strip_prefix(MAGIC.as_slice())
            .ok_or(ModelError::BadMagic)?;
        let mut raw = Vec::new();
        flate2::read::GzDecoder::new(body)
            .take(MAX_MODEL_BYTES + 1)
            .read_to_end(&mut raw)
            .map_err(|e| ModelError::Corrupt(e.to_string()))?;
        if raw.len() as u64 > MAX_MODEL_BYTES {
            return Err(ModelError::TooLarge);
        }
        let mut r = Reader { buf: &raw, pos: 0 };
        let meta_len = r.u32()? as usize;
        let meta: ModelMeta = serde_json::from_slice(r.take(meta_len)?)
            .map_err(|e| ModelError::Corrupt(e.to_string()))?;
        let bits = r.u32()?;
        if bits != meta.config.bits || !(8..=24).contains(&bits) {
            return Err(ModelError::Corrupt(format!("bad feature width {bits}")));
        }
        let mut bias = [0f32; K];
        for b in &mut bias {
            *b = r.f32()?;
        }
        let mut scales = [0f32; K];
        for s in &mut scales {
            *s = r.f32()?;
        }
        let hasher = Hasher { bits };
        let n = hasher.dim() * K;
        let data = r.take(n * 2)?;
        let weights = data
            .chunks_exact(2)
            .map(|c| i16::from_le_bytes([c[0], c[1]]))
            .collect();
        if r.pos != raw.len() {
            return Err(ModelError::Corrupt("trailing bytes".into()));
        }
        Ok(Model {
            meta,
            hasher,
            weights,
            scales,
            bias,
        })
    }

    /// A version derived from the weights and calibration, so the same
    /// training run always yields the same name.
    fn content_version(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for (i, q) in self.weights.iter().enumerate() {
            h.update((f32::from(*q) * self.scales[i % K]).to_le_bytes());
        }
        for b in self.bias {
            h.update(b.to_le_bytes());
        }
        h.update(self.meta.temperature.to_le_bytes());
        format!("intent-{}", &hex::encode(h.finalize())[..12])
    }
}

fn logits(bias: &[f32; K], x: &Vector, row: impl Fn(usize) -> [f32; K]) -> [f32; K] {
    let mut z = *bias;
    for (&i, &v) in x.idx.iter().zip(&x.val) {
        let w = row(i as usize);
        for k in 0..K {
            z[k] += w[k] * v;
        }
    }
    z
}

/// Per-class scale mapping the largest weight to `i16::MAX`.
fn scales(weights: &[f32]) -> [f32; K] {
    let mut max = [0f32; K];
    for (i, w) in weights.iter().enumerate() {
        max[i % K] = max[i % K].max(w.abs());
    }
    max.map(|m| {
        if m > 0.0 {
            m / f32::from(i16::MAX)
        } else {
            1.0
        }
    })
}

fn quantized(w: f32, scale: f32) -> i16 {
    (w / scale)
        .round()
        .clamp(-f32::from(i16::MAX), f32::from(i16::MAX)) as i16
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], ModelError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.buf.len());
        let end = end.ok_or_else(|| ModelError::Corrupt("truncated".into()))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u32(&mut self) -> Result<u32, ModelError> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn f32(&mut self) -> Result<f32, ModelError> {
        Ok(f32::from_bits(self.u32()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ex(id: usize, label: Intent, body: &str) -> Example {
        Example {
            id: id.to_string(),
            subject: String::new(),
            body: body.to_string(),
            label,
            tags: vec![],
        }
    }

    fn tiny() -> Vec<Example> {
        let mut v = Vec::new();
        let templates = [
            (Intent::ProductInquiry, "please quote rate for"),
            (Intent::PurchaseOrder, "purchase order attached dispatch"),
            (Intent::Payment, "payment done utr neft"),
            (Intent::Spam, "lottery winner click link"),
        ];
        for i in 0..20 {
            for (label, t) in templates {
                v.push(ex(v.len(), label, &format!("{t} item{i}")));
            }
        }
        v
    }

    fn small_config() -> TrainConfig {
        TrainConfig {
            bits: 14,
            ..TrainConfig::default()
        }
    }

    #[test]
    fn a_tiny_separable_dataset_is_learned_perfectly() {
        let data = tiny();
        let refs: Vec<&Example> = data.iter().collect();
        let m = Model::train(&refs, &[], small_config(), "x".into());
        let e = m.evaluate(&refs);
        assert_eq!(e.accuracy, 1.0, "{}", e.render());
        assert_eq!(
            m.predict("", "kindly quote your rate").intent,
            Intent::ProductInquiry
        );
    }

    #[test]
    fn training_is_deterministic_and_serialisation_round_trips() {
        let data = tiny();
        let refs: Vec<&Example> = data.iter().collect();
        let a = Model::train(&refs, &refs[..10], small_config(), "x".into());
        let b = Model::train(&refs, &refs[..10], small_config(), "x".into());
        assert_eq!(a.meta.version, b.meta.version);
        let bytes = a.to_bytes();
        let c = Model::from_bytes(&bytes).expect("load");
        assert_eq!(c.meta, a.meta);
        assert_eq!(c.to_bytes(), bytes);
        for e in &data {
            assert_eq!(a.predict("", &e.body), c.predict("", &e.body));
        }
        assert!(matches!(
            Model::from_bytes(b"nope"),
            Err(ModelError::BadMagic)
        ));
        assert!(Model::from_bytes(&bytes[..bytes.len() / 2]).is_err());
    }

    #[test]
    fn evidence_names_the_deciding_phrases() {
        let data = tiny();
        let refs: Vec<&Example> = data.iter().collect();
        let m = Model::train(&refs, &[], small_config(), "x".into());
        let p = Prepared::new("", "payment done, utr attached");
        let (pred, ev) = m.decide(&p, 3);
        assert_eq!(pred, m.predict_prepared(&p));
        assert_eq!(pred.intent, Intent::Payment);
        assert!(
            ev.iter()
                .any(|e| e.phrase == "payment" || e.phrase == "utr"),
            "{ev:?}"
        );
    }

    #[test]
    fn calibration_lowers_the_error_on_held_out_data() {
        // Noisy labels make an uncalibrated, overfitted model overconfident.
        let mut data = Vec::new();
        let words = ["alpha", "beta", "gamma", "delta"];
        let mut rng = Rng(7);
        for i in 0..1200 {
            let c = (rng.next() % 2) as usize;
            let noisy = rng.next() % 4 == 0;
            let label = if c == 0 { Intent::Spam } else { Intent::Other };
            let label = if noisy {
                if c == 0 {
                    Intent::Other
                } else {
                    Intent::Spam
                }
            } else {
                label
            };
            let body = format!("{} {} w{}", words[c * 2], words[c * 2 + 1], rng.next() % 50);
            data.push(ex(i, label, &body));
        }
        let refs: Vec<&Example> = data.iter().collect();
        let (train, rest) = refs.split_at(600);
        let (cal, test) = rest.split_at(300);
        let config = TrainConfig {
            bits: 12,
            learning_rate: 2.0,
            epochs: 20,
            ..TrainConfig::default()
        };
        let mut m = Model::train(train, &[], config, "x".into());
        let before = m.evaluate(test).ece;
        m.meta.temperature = m.fit_temperature(cal);
        let after = m.evaluate(test).ece;
        assert!(after < before, "ECE {before} → {after}");
        assert!(after < 0.05, "ECE after calibration {after}");
    }
}
