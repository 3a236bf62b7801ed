//! Fixed-window rate limits with one algorithm and two stores: in-process
//! (one instance) or Redis (shared by every instance). Windows are aligned to
//! the clock, so every instance counts into the same window.

use std::collections::HashMap;
use std::sync::Mutex;

use redis::aio::ConnectionManager;

/// The outcome of counting one hit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the window resets.
    pub reset_secs: u64,
}

pub enum Limiter {
    Memory(Mutex<HashMap<String, (u64, u32)>>),
    Redis(ConnectionManager),
}

impl std::fmt::Debug for Limiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Limiter::Memory(_) => "Limiter::Memory",
            Limiter::Redis(_) => "Limiter::Redis",
        })
    }
}

fn window(now_secs: u64, window_secs: u64) -> (u64, u64) {
    let index = now_secs / window_secs;
    (index, (index + 1) * window_secs - now_secs)
}

impl Limiter {
    pub fn memory() -> Self {
        Limiter::Memory(Mutex::new(HashMap::new()))
    }

    pub async fn redis(url: &str) -> anyhow::Result<Self> {
        let client = redis::Client::open(url)?;
        Ok(Limiter::Redis(ConnectionManager::new(client).await?))
    }

    /// Count a hit on `key` and decide. `limit` 0 means unlimited.
    pub async fn hit(
        &self,
        key: &str,
        limit: u32,
        window_secs: u64,
        now_secs: u64,
    ) -> anyhow::Result<Decision> {
        if limit == 0 {
            return Ok(Decision {
                allowed: true,
                limit,
                remaining: u32::MAX,
                reset_secs: 0,
            });
        }
        let (index, reset_secs) = window(now_secs, window_secs);
        let count = self.incr(key, index, window_secs).await?;
        Ok(Decision {
            allowed: count <= limit,
            limit,
            remaining: limit.saturating_sub(count),
            reset_secs,
        })
    }

    /// Hits counted so far in the current window, without adding one.
    pub async fn count(
        &self,
        key: &str,
        window_secs: u64,
        now_secs: u64,
    ) -> anyhow::Result<(u32, u64)> {
        let (index, reset_secs) = window(now_secs, window_secs);
        let n = match self {
            Limiter::Memory(m) => {
                let map = m.lock().expect("limiter lock");
                map.get(key)
                    .filter(|(i, _)| *i == index)
                    .map(|(_, n)| *n)
                    .unwrap_or(0)
            }
            Limiter::Redis(c) => {
                let n: Option<u32> = redis::cmd("GET")
                    .arg(format!("pebble:rl:{key}:{index}"))
                    .query_async(&mut c.clone())
                    .await?;
                n.unwrap_or(0)
            }
        };
        Ok((n, reset_secs))
    }

    async fn incr(&self, key: &str, index: u64, window_secs: u64) -> anyhow::Result<u32> {
        match self {
            Limiter::Memory(m) => {
                let mut map = m.lock().expect("limiter lock");
                if map.len() > 100_000 {
                    // Old windows are dead weight; drop them rather than grow without bound.
                    map.retain(|_, (i, _)| *i >= index);
                }
                let entry = map.entry(key.to_owned()).or_insert((index, 0));
                if entry.0 != index {
                    *entry = (index, 0);
                }
                entry.1 += 1;
                Ok(entry.1)
            }
            Limiter::Redis(c) => {
                let k = format!("pebble:rl:{key}:{index}");
                let (n,): (u32,) = redis::pipe()
                    .atomic()
                    .incr(&k, 1)
                    .expire(&k, window_secs as i64 + 5)
                    .ignore()
                    .query_async(&mut c.clone())
                    .await?;
                Ok(n)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_limit_holds_within_a_window_and_resets_with_the_next() {
        let l = Limiter::memory();
        for i in 1..=3 {
            let d = l.hit("u", 3, 60, 120).await.unwrap();
            assert!(d.allowed);
            assert_eq!(d.remaining, 3 - i);
        }
        let d = l.hit("u", 3, 60, 150).await.unwrap();
        assert_eq!((d.allowed, d.reset_secs), (false, 30));
        assert!(
            l.hit("other", 3, 60, 150).await.unwrap().allowed,
            "keys are independent"
        );
        assert!(
            l.hit("u", 3, 60, 180).await.unwrap().allowed,
            "a new window"
        );
        assert_eq!(l.count("u", 60, 181).await.unwrap().0, 1);
    }
}
