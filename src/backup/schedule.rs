//! Backups inside `pebble serve`: a full backup every
//! `backup_full_interval_secs` (then verified and pruned), an activity-stream
//! increment every `backup_activity_interval_secs`, a restore drill every
//! `backup_drill_interval_secs`. What is due is decided from the catalogue
//! against the application clock, so a restart neither skips nor repeats a
//! backup, and several instances on one PostgreSQL take turns (the cluster lock).

use std::cmp::Reverse;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Datelike, Utc};
use indicatif::ProgressBar;
use pebble_core::audit::Actor;
use tokio_util::sync::CancellationToken;

use super::manifest::Kind;
use super::{BackupError, Backups};
use crate::store::backup::{self as sql, BackupRow};

/// Backups retention removes: full backups that are neither the newest nor
/// the newest of one of the last `daily` days or `weekly` ISO weeks that have
/// one, and activity backups that continue from before the oldest kept full.
pub fn doomed(usable: &[BackupRow], daily: u32, weekly: u32) -> BTreeSet<String> {
    let mut fulls: Vec<&BackupRow> = usable.iter().filter(|b| b.kind == "full").collect();
    fulls.sort_by_key(|b| Reverse((b.started_at, b.id.clone())));
    let (mut days, mut weeks) = (BTreeSet::new(), BTreeSet::new());
    let mut out = BTreeSet::new();
    let mut oldest_kept: Option<i64> = None;
    for (i, b) in fulls.iter().enumerate() {
        let t = DateTime::<Utc>::from_timestamp_micros(b.started_at).unwrap_or_default();
        let week = (t.iso_week().year(), t.iso_week().week());
        let mut keep = i == 0;
        if days.insert(t.date_naive()) && days.len() <= daily as usize {
            keep = true;
        }
        if weeks.insert(week) && weeks.len() <= weekly as usize {
            keep = true;
        }
        if keep {
            oldest_kept = Some(b.chain_seq.unwrap_or(0));
        } else {
            out.insert(b.id.clone());
        }
    }
    if let Some(floor) = oldest_kept {
        for b in usable.iter().filter(|b| b.kind == "activity") {
            if b.from_seq.unwrap_or(0) < floor {
                out.insert(b.id.clone());
            }
        }
    }
    out
}

fn due(last: Option<i64>, since_start: i64, every_secs: u64, now: i64) -> bool {
    if every_secs == 0 {
        return false;
    }
    let every = every_secs as i64 * 1_000_000;
    match last {
        Some(at) => now - at >= every,
        None => now - since_start >= every,
    }
}

/// The scheduler; returns when `stop` is cancelled.
pub async fn run(backups: Arc<Backups>, stop: CancellationToken) {
    let s = backups.settings();
    let (full_every, activity_every, drill_every) = (
        s.backup_full_interval_secs,
        s.backup_activity_interval_secs,
        s.backup_drill_interval_secs,
    );
    let smallest = [full_every, activity_every, drill_every]
        .into_iter()
        .filter(|&n| n > 0)
        .min();
    let Some(smallest) = smallest else {
        return;
    };
    if let Err(e) = backups.seed_metrics().await {
        tracing::error!(error = %e, "reading the backup catalogue failed");
    }
    let poll = Duration::from_secs(smallest.clamp(1, 60));
    let started = backups.clock().now().timestamp_micros();
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(poll) => {}
        }
        let tick = async {
            if let Err(e) = tick(&backups, started, full_every, activity_every, drill_every).await {
                tracing::error!(error = %e, "scheduled backup work failed; retrying at the next tick");
            }
        };
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick => {}
        }
    }
}

async fn tick(
    backups: &Backups,
    started: i64,
    full_every: u64,
    activity_every: u64,
    drill_every: u64,
) -> Result<(), BackupError> {
    let actor = || Actor::system("backup-schedule");
    let quiet = ProgressBar::hidden();
    let usable = sql::usable(backups.db()).await?;
    let now = backups.clock().now().timestamp_micros();
    let finished = |b: &BackupRow| b.finished_at.unwrap_or(b.started_at);
    let last_full = usable
        .iter()
        .filter(|b| b.kind == "full")
        .map(finished)
        .max();
    let last_any = usable.iter().map(finished).max();
    let full_due = due(last_full, started, full_every, now);
    let activity_due = due(last_any, started, activity_every, now);
    if full_due || (activity_due && last_full.is_none()) {
        match backups.create(Kind::Full, None, actor(), &quiet).await {
            Ok(created) => {
                if backups.settings().backup_verify_scheduled {
                    let report = backups
                        .verify(std::path::Path::new(&created.file), None, actor(), &quiet)
                        .await?;
                    if !report.ok {
                        tracing::error!(
                            id = created.id,
                            failed_part = report.failed_part,
                            message = report.message,
                            "a scheduled backup failed verification"
                        );
                    }
                }
                let removed = backups.prune().await?;
                if !removed.is_empty() {
                    tracing::info!(removed = removed.len(), "backup retention applied");
                }
            }
            Err(BackupError::Busy) => {}
            Err(e) => tracing::error!(error = %e, "scheduled full backup failed"),
        }
    } else if activity_due {
        match backups.create(Kind::Activity, None, actor(), &quiet).await {
            Ok(_) | Err(BackupError::Busy) => {}
            Err(e) => tracing::error!(error = %e, "scheduled activity backup failed"),
        }
    }
    let last_drill = sql::last_drill(backups.db()).await?.map(|d| d.finished_at);
    if due(
        last_drill,
        started,
        drill_every,
        backups.clock().now().timestamp_micros(),
    ) {
        match backups.drill(false, actor(), &quiet).await {
            Ok(r) => tracing::info!(
                rto_ms = r.rto_ms,
                rpo_ms = r.rpo_ms,
                events_behind = r.events_behind,
                "restore drill passed"
            ),
            Err(BackupError::Busy) => {}
            Err(e) => tracing::error!(error = %e, "restore drill failed"),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn row(id: &str, kind: &str, at: DateTime<Utc>, seq: i64, from: Option<i64>) -> BackupRow {
        BackupRow {
            id: id.into(),
            kind: kind.into(),
            status: "created".into(),
            file: None,
            started_at: at.timestamp_micros(),
            finished_at: None,
            size_bytes: None,
            sha256: None,
            schema_version: None,
            chain_seq: Some(seq),
            chain_hash: None,
            from_seq: from,
            encrypted: false,
            error: None,
            verified_at: None,
            verify_ok: None,
            verify_error: None,
            deleted_at: None,
        }
    }

    #[test]
    fn keeps_the_newest_per_day_for_a_week_and_per_iso_week_for_a_month() {
        // Four full backups a day (every 6 h) for 60 days from Monday 2026-01-05.
        let start = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
        let mut rows = Vec::new();
        for i in 0..240 {
            let at = start + chrono::Duration::hours(6 * i);
            rows.push(row(&format!("f{i:03}"), "full", at, i * 10, None));
        }
        let doomed = doomed(&rows, 7, 4);
        let kept: Vec<&BackupRow> = rows.iter().filter(|r| !doomed.contains(&r.id)).collect();
        let days: BTreeSet<_> = kept
            .iter()
            .map(|r| {
                DateTime::<Utc>::from_timestamp_micros(r.started_at)
                    .unwrap()
                    .date_naive()
            })
            .collect();
        // 7 daily (Feb 27 to Mar 5), and of the 4 newest ISO weeks two
        // (Feb 9-15, Feb 16-22) add their newest.
        assert_eq!(
            kept.len(),
            9,
            "{:?}",
            kept.iter().map(|r| &r.id).collect::<Vec<_>>()
        );
        assert_eq!(days.len(), 9);
        assert!(kept.iter().any(|r| r.id == "f239"), "the newest is kept");
        // Each kept backup is the last of its day.
        for r in &kept {
            let t = DateTime::<Utc>::from_timestamp_micros(r.started_at).unwrap();
            assert_eq!(t.format("%H").to_string(), "18");
        }
    }

    #[test]
    fn activity_backups_older_than_every_kept_full_go() {
        let t = Utc.with_ymd_and_hms(2026, 1, 5, 0, 0, 0).unwrap();
        let rows = vec![
            row("f1", "full", t, 100, None),
            row(
                "a1",
                "activity",
                t + chrono::Duration::hours(1),
                150,
                Some(100),
            ),
            row("f2", "full", t + chrono::Duration::days(1), 200, None),
            row(
                "a2",
                "activity",
                t + chrono::Duration::days(1) + chrono::Duration::hours(1),
                250,
                Some(200),
            ),
        ];
        assert_eq!(
            doomed(&rows, 1, 0),
            BTreeSet::from(["f1".to_owned(), "a1".to_owned()])
        );
        assert!(doomed(&rows, 2, 0).is_empty());
    }

    #[test]
    fn due_counts_from_the_last_success_or_else_from_start() {
        let s = 1_000_000;
        assert!(!due(None, 0, 10, 9 * s));
        assert!(due(None, 0, 10, 10 * s));
        assert!(!due(Some(5 * s), 0, 10, 14 * s));
        assert!(due(Some(5 * s), 0, 10, 15 * s));
        assert!(!due(Some(0), 0, 0, 100 * s));
    }
}
