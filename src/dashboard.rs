//! The Sales Ops and Owner dashboards of SPEC §8, computed from real data:
//! the activity stream (what the pipeline, the model and people did) and the
//! CRM. One implementation, shown by the API as JSON and by the UI as charts.
//!
//! Days and weeks are the business's (local offset from settings). People are
//! named only for roles that may see personal data; Read-Only sees "Staff 1",
//! "Staff 2", … (stable within one answer).

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Datelike, Duration, FixedOffset, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::crm::Stage;
use crate::store::dashboard as sql;
use crate::store::{Db, StoreError};
use crate::tally::Tally;

const DAY: i64 = 86_400_000_000;
const WEEK: i64 = 7 * DAY;
/// Days in the emails-per-day chart, weeks in the accuracy chart, days of
/// customer queries, draft decisions and Tally syncs considered.
pub const DAYS: i64 = 14;
pub const WEEKS: i64 = 12;
pub const WINDOW_DAYS: i64 = 30;

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct DayCount {
    #[schema(value_type = String, format = Date)]
    pub day: NaiveDate,
    pub count: i64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct WeekAccuracy {
    /// The Monday the week starts on.
    #[schema(value_type = String, format = Date)]
    pub week: NaiveDate,
    /// The model's decisions that week.
    pub decisions: i64,
    /// Classifications a person overrode that week.
    pub overrides: i64,
    /// 1 − overrides / decisions; absent in a week without decisions.
    pub accuracy: Option<f64>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct StageCount {
    pub stage: String,
    /// Leads at this stage now.
    pub now: i64,
    /// Leads at this stage or further along (won counts as having passed
    /// every stage; lost leads are counted only under `lost`).
    pub reached: i64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct SalesOps {
    #[schema(value_type = String, format = DateTime)]
    pub as_of: DateTime<Utc>,
    pub emails_today: i64,
    pub emails_this_week: i64,
    pub emails_per_day: Vec<DayCount>,
    pub accuracy: Vec<WeekAccuracy>,
    /// Over the whole chart: 1 − overrides / decisions.
    pub accuracy_overall: Option<f64>,
    pub funnel: Vec<StageCount>,
    /// Won ÷ (won + lost); absent before any lead closes.
    pub conversion: Option<f64>,
    pub response: ResponseTimes,
}

/// Time from an email's arrival to the reply leaving, over the last
/// `WINDOW_DAYS` days.
#[derive(Clone, Debug, Default, Serialize, ToSchema)]
pub struct ResponseTimes {
    pub replies: i64,
    pub p50_secs: Option<i64>,
    pub p95_secs: Option<i64>,
    pub by_staff: Vec<StaffResponse>,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct StaffResponse {
    pub staff: String,
    pub replies: i64,
    pub p50_secs: i64,
    pub p95_secs: i64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct StaffDrafts {
    pub staff: String,
    pub approved: i64,
    /// Approved as the AI wrote them.
    pub approved_unedited: i64,
    pub rejected: i64,
    /// approved ÷ (approved + rejected)
    pub approval_rate: f64,
    /// approved_unedited ÷ (approved + rejected): how much of the AI's work
    /// this person sends as it is.
    pub ai_as_is_rate: f64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct IntentCount {
    pub intent: String,
    pub count: i64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct TallyHealth {
    pub breaker: String,
    pub cache_items: i64,
    pub cache_age_secs: Option<i64>,
    #[schema(value_type = Option<String>, format = DateTime)]
    pub last_success_at: Option<DateTime<Utc>>,
    pub last_error: Option<String>,
    pub syncs_ok: i64,
    pub syncs_failed: i64,
}

#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Owner {
    #[schema(value_type = String, format = DateTime)]
    pub as_of: DateTime<Utc>,
    pub window_days: i64,
    pub drafts_by_staff: Vec<StaffDrafts>,
    pub top_queries: Vec<IntentCount>,
    pub tally: TallyHealth,
}

/// Local midnight at or before `now`, in µs.
fn day_start(now: i64, offset: FixedOffset) -> i64 {
    let off = i64::from(offset.local_minus_utc()) * 1_000_000;
    (now + off).div_euclid(DAY) * DAY - off
}

fn local_date(micros: i64, offset: FixedOffset) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_micros(micros)
        .unwrap_or_default()
        .with_timezone(&offset)
        .date_naive()
}

fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

/// `true`, `1` (SQLite's boolean) or any non-zero, non-empty edit summary.
fn truthy(v: Option<&str>) -> bool {
    !matches!(
        v.map(str::trim),
        None | Some("" | "0" | "false" | "null" | "[]" | "{}" | "0.0")
    )
}

/// Names people for roles that may see them, numbers them otherwise.
pub struct People {
    names: HashMap<String, String>,
    show: bool,
    aliases: std::sync::Mutex<HashMap<String, usize>>,
}

impl People {
    pub async fn load(db: &Db, show: bool) -> Result<People, StoreError> {
        Ok(People {
            names: sql::user_names(db).await?.into_iter().collect(),
            show,
            aliases: Default::default(),
        })
    }

    pub fn name(&self, user_id: &str) -> String {
        if self.show {
            return self
                .names
                .get(user_id)
                .cloned()
                .unwrap_or_else(|| user_id.to_owned());
        }
        let mut aliases = self.aliases.lock().expect("alias lock");
        let next = aliases.len() + 1;
        let n = *aliases.entry(user_id.to_owned()).or_insert(next);
        format!("Staff {n}")
    }
}

pub async fn sales_ops(
    db: &Db,
    people: &People,
    now: DateTime<Utc>,
    offset: FixedOffset,
) -> Result<SalesOps, StoreError> {
    let now_us = now.timestamp_micros();
    let today = day_start(now_us, offset);
    let end = now_us + 1;
    let first_day = today - (DAYS - 1) * DAY;
    let mut per_day = Vec::with_capacity(DAYS as usize);
    for i in 0..DAYS {
        let from = first_day + i * DAY;
        per_day.push(sql::count(db, "EmailReceived", None, from, (from + DAY).min(end)).await?);
    }
    let emails_per_day: Vec<DayCount> = per_day
        .iter()
        .enumerate()
        .map(|(i, &count)| DayCount {
            day: local_date(first_day + i as i64 * DAY, offset),
            count,
        })
        .collect();
    let emails_today = per_day.last().copied().unwrap_or(0);
    // The week so far, from local Monday: always inside the days charted.
    let weekday = i64::from(local_date(today, offset).weekday().num_days_from_monday());
    let monday = today - weekday * DAY;
    let emails_this_week = per_day[(DAYS - 1 - weekday) as usize..].iter().sum();

    let first_week = monday - (WEEKS - 1) * WEEK;
    let mut accuracy = Vec::with_capacity(WEEKS as usize);
    for w in 0..WEEKS {
        let from = first_week + w * WEEK;
        let to = (from + WEEK).min(end);
        // The model decides as an ai_agent; a person's classification is an override.
        let all = sql::count(db, "LeadClassified", None, from, to).await?;
        let overrides = sql::count(db, "LeadClassified", Some("user"), from, to).await?;
        let decisions = all - overrides;
        accuracy.push(WeekAccuracy {
            week: local_date(from, offset),
            decisions,
            overrides,
            accuracy: ratio(decisions - overrides.min(decisions), decisions),
        });
    }
    let (d, o) = accuracy
        .iter()
        .fold((0, 0), |(d, o), w| (d + w.decisions, o + w.overrides));
    let accuracy_overall = ratio(d - o.min(d), d);

    let (funnel, conversion) = funnel(db).await?;
    let response = response_times(db, people, now_us - WINDOW_DAYS * DAY).await?;

    Ok(SalesOps {
        as_of: now,
        emails_today,
        emails_this_week,
        emails_per_day,
        accuracy,
        accuracy_overall,
        funnel,
        conversion,
        response,
    })
}

/// The lead funnel now, and won ÷ (won + lost).
pub async fn funnel(db: &Db) -> Result<(Vec<StageCount>, Option<f64>), StoreError> {
    let by_stage: HashMap<String, i64> = sql::leads_by_stage(db).await?.into_iter().collect();
    let at = |s: Stage| by_stage.get(s.as_str()).copied().unwrap_or(0);
    let open_path = [
        Stage::New,
        Stage::Contacted,
        Stage::Qualified,
        Stage::Quoted,
        Stage::Won,
    ];
    let mut funnel: Vec<StageCount> = open_path
        .iter()
        .enumerate()
        .map(|(i, &s)| StageCount {
            stage: s.as_str().into(),
            now: at(s),
            reached: open_path[i..].iter().map(|&t| at(t)).sum(),
        })
        .collect();
    funnel.push(StageCount {
        stage: Stage::Lost.as_str().into(),
        now: at(Stage::Lost),
        reached: at(Stage::Lost),
    });
    let conversion = ratio(at(Stage::Won), at(Stage::Won) + at(Stage::Lost));
    Ok((funnel, conversion))
}

/// Receipt → reply sent, for replies sent since `since`: overall and by the
/// person who approved the reply, busiest first.
async fn response_times(db: &Db, people: &People, since: i64) -> Result<ResponseTimes, StoreError> {
    let mut all = Vec::new();
    let mut by_user: HashMap<String, Vec<i64>> = HashMap::new();
    for (user, _stream, received, sent) in crate::store::drafts::response_times(db, since).await? {
        let secs = (sent - received).max(0) / 1_000_000;
        all.push(secs);
        if let Some(u) = user {
            by_user.entry(u).or_default().push(secs);
        }
    }
    let mut staff: Vec<(String, Vec<i64>)> = by_user.into_iter().collect();
    staff.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then_with(|| a.0.cmp(&b.0)));
    let by_staff = staff
        .into_iter()
        .map(|(user, mut v)| {
            v.sort_unstable();
            StaffResponse {
                staff: people.name(&user),
                replies: v.len() as i64,
                p50_secs: nearest_rank(&v, 0.5),
                p95_secs: nearest_rank(&v, 0.95),
            }
        })
        .collect();
    all.sort_unstable();
    Ok(ResponseTimes {
        replies: all.len() as i64,
        p50_secs: (!all.is_empty()).then(|| nearest_rank(&all, 0.5)),
        p95_secs: (!all.is_empty()).then(|| nearest_rank(&all, 0.95)),
        by_staff,
    })
}

/// The nearest-rank percentile of sorted, non-empty values.
fn nearest_rank(sorted: &[i64], q: f64) -> i64 {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub async fn owner(
    db: &Db,
    tally: &Tally,
    people: &People,
    now: DateTime<Utc>,
) -> Result<Owner, StoreError> {
    let end = now.timestamp_micros() + 1;
    let from = (now - Duration::days(WINDOW_DAYS)).timestamp_micros();
    let mut staff: BTreeMap<String, (i64, i64, i64)> = BTreeMap::new();
    for (user, event, edits, n) in sql::draft_decisions(db, from, end).await? {
        let s = staff.entry(user).or_default();
        if event == "DraftApproved" {
            s.0 += n;
            if !truthy(edits.as_deref()) {
                s.1 += n;
            }
        } else {
            s.2 += n;
        }
    }
    // Ranked before naming, so that pseudonyms follow the ranking
    // ("Staff 1" is the busiest) rather than the order of user ids.
    let mut ranked: Vec<(String, (i64, i64, i64))> = staff.into_iter().collect();
    ranked.sort_by(|(ua, a), (ub, b)| (b.0 + b.2).cmp(&(a.0 + a.2)).then_with(|| ua.cmp(ub)));
    let drafts_by_staff: Vec<StaffDrafts> = ranked
        .into_iter()
        .map(|(user, (approved, unedited, rejected))| StaffDrafts {
            staff: people.name(&user),
            approved,
            approved_unedited: unedited,
            rejected,
            approval_rate: ratio(approved, approved + rejected).unwrap_or(0.0),
            ai_as_is_rate: ratio(unedited, approved + rejected).unwrap_or(0.0),
        })
        .collect();
    let top_queries = sql::intents(db, from, end, 8)
        .await?
        .into_iter()
        .map(|(intent, count)| IntentCount {
            intent: intent.unwrap_or_else(|| "unknown".into()),
            count,
        })
        .collect();
    let (mut ok, mut failed) = (0, 0);
    for (outcome, n) in sql::tally_syncs(db, from, end).await? {
        if truthy(outcome.as_deref()) {
            ok += n;
        } else {
            failed += n;
        }
    }
    let health = tally.health().await?;
    let tally = TallyHealth {
        breaker: serde_json::to_value(health.breaker)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| format!("{:?}", health.breaker).to_lowercase()),
        cache_items: health.cache_items,
        cache_age_secs: health.cache_age_secs,
        last_success_at: health.last_sync.last_success_at,
        last_error: health.last_sync.last_error,
        syncs_ok: ok,
        syncs_failed: failed,
    };
    Ok(Owner {
        as_of: now,
        window_days: WINDOW_DAYS,
        drafts_by_staff,
        top_queries,
        tally,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn a_local_day_starts_at_local_midnight() {
        let ist = FixedOffset::east_opt(330 * 60).unwrap();
        // 2026-01-15 20:00 UTC is 16 January 01:30 in India.
        let t = Utc.with_ymd_and_hms(2026, 1, 15, 20, 0, 0).unwrap();
        let start = day_start(t.timestamp_micros(), ist);
        let expected = Utc.with_ymd_and_hms(2026, 1, 15, 18, 30, 0).unwrap();
        assert_eq!(start, expected.timestamp_micros());
        assert_eq!(
            local_date(start, ist),
            NaiveDate::from_ymd_opt(2026, 1, 16).unwrap()
        );
    }

    #[test]
    fn edits_and_outcomes_read_the_same_from_either_backend() {
        for yes in ["1", "true", "3", "[\"line 2\"]"] {
            assert!(truthy(Some(yes)), "{yes}");
        }
        for no in ["0", "false", "", "null", "[]"] {
            assert!(!truthy(Some(no)), "{no}");
        }
        assert!(!truthy(None));
    }
}
