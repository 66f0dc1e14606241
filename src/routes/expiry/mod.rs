//! `GET /expiry`: every custom domain's certificate on a timeline of the next 180 days,
//! grouped by team (and by account when there are several), as server-rendered SVG.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use askama::Template;
use time::OffsetDateTime;

use super::{Chrome, PageError, html};
use crate::auth::CurrentUser;
use crate::inventory::DashboardRow;
use crate::state::AppState;
use crate::store::ServedFindings;

/// The days the timeline spans from today.
pub const HORIZON_DAYS: i64 = 180;

/// The SVG's geometry (user units): the domain column, then the timeline.
const LABEL_WIDTH: i64 = 280;
const CHART_WIDTH: i64 = 540;
const STATUS_WIDTH: i64 = 300;
const ROW_HEIGHT: i64 = 28;
const AXIS_HEIGHT: i64 = 30;

/// How soon a certificate expires.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Urgency {
    Expired,
    /// 7 days or fewer left.
    Critical,
    /// 14 days or fewer.
    Urgent,
    /// 30 days or fewer.
    Soon,
    Fine,
    /// No expiry known.
    Unknown,
}

impl Urgency {
    pub fn of(days_left: Option<i64>) -> Self {
        match days_left {
            None => Urgency::Unknown,
            Some(d) if d < 0 => Urgency::Expired,
            Some(d) if d <= 7 => Urgency::Critical,
            Some(d) if d <= 14 => Urgency::Urgent,
            Some(d) if d <= 30 => Urgency::Soon,
            Some(_) => Urgency::Fine,
        }
    }

    /// The class and `data-urgency` value.
    pub fn key(self) -> &'static str {
        match self {
            Urgency::Expired => "expired",
            Urgency::Critical => "critical",
            Urgency::Urgent => "urgent",
            Urgency::Soon => "soon",
            Urgency::Fine => "ok",
            Urgency::Unknown => "unknown",
        }
    }

    /// The urgency in one word, beside each domain.
    pub fn word(self) -> &'static str {
        match self {
            Urgency::Fine => "fine",
            other => other.key(),
        }
    }

    /// What the colour says, in words (the legend).
    pub fn label(self) -> &'static str {
        match self {
            Urgency::Expired => "expired",
            Urgency::Critical => "critical: 7 days or fewer",
            Urgency::Urgent => "urgent: 14 days or fewer",
            Urgency::Soon => "soon: 30 days or fewer",
            Urgency::Fine => "fine",
            Urgency::Unknown => "expiry unknown",
        }
    }

    /// The fill (an SVG attribute, not a style: the CSP allows no inline styles).
    pub fn colour(self) -> &'static str {
        match self {
            Urgency::Expired => "#7f1d1d",
            Urgency::Critical => "#dc2626",
            Urgency::Urgent => "#ea580c",
            Urgency::Soon => "#ca8a04",
            Urgency::Fine => "#16a34a",
            Urgency::Unknown => "#9ca3af",
        }
    }

    pub const ALL: [Urgency; 6] = [
        Urgency::Expired,
        Urgency::Critical,
        Urgency::Urgent,
        Urgency::Soon,
        Urgency::Fine,
        Urgency::Unknown,
    ];
}

/// One custom domain on the timeline.
pub struct TimelineDomain {
    pub domain: String,
    pub pool_id: String,
    pub pool_name: String,
    pub region: String,
    /// The earlier of the configured and the served certificate's expiry.
    pub effective_expiry: Option<OffsetDateTime>,
    /// Whether the served certificate is the earlier one (it differs from the
    /// configured certificate, or the configured one's expiry is unknown).
    pub served_is_earlier: bool,
    pub days_left: Option<i64>,
    pub urgency: Urgency,
    /// Where the row sits (y) and where its bar ends (x), in the SVG's units.
    pub y: i64,
    pub bar_end: i64,
    /// Past the timeline's end.
    pub beyond: bool,
}

impl TimelineDomain {
    /// Days left and what they mean, in words.
    pub fn status_text(&self) -> String {
        let source = if self.served_is_earlier {
            " (served certificate)"
        } else {
            ""
        };
        match self.days_left {
            None => "expiry unknown".to_owned(),
            Some(d) if d < 0 => format!("expired {} days ago{source}", -d),
            Some(1) => format!("1 day left · {}{source}", self.urgency.word()),
            Some(d) if d > HORIZON_DAYS => {
                format!("{d} days left · beyond {HORIZON_DAYS} days{source}")
            }
            Some(d) => format!("{d} days left · {}{source}", self.urgency.word()),
        }
    }

    pub fn expiry_date(&self) -> String {
        self.effective_expiry
            .map(|t| t.date().to_string())
            .unwrap_or_else(|| "unknown".to_owned())
    }

    pub fn text_y(&self) -> i64 {
        self.y + ROW_HEIGHT / 2 + 4
    }

    pub fn bar_y(&self) -> i64 {
        self.y + 6
    }

    /// Whether a bar runs from today to the expiry (expired or unknown: a mark at today).
    pub fn has_bar(&self) -> bool {
        self.days_left.is_some_and(|d| d >= 0)
    }

    pub fn bar_height(&self) -> i64 {
        ROW_HEIGHT - 12
    }

    pub fn bar_width(&self) -> i64 {
        (self.bar_end - LABEL_WIDTH).max(3)
    }
}

/// A team's (and account's) domains, soonest first.
pub struct TimelineGroup {
    pub heading: String,
    pub team: String,
    pub account: Option<String>,
    pub domains: Vec<TimelineDomain>,
    pub height: i64,
}

/// A tick of the day axis.
pub struct Tick {
    pub x: i64,
    pub label: String,
}

#[derive(Template)]
#[template(path = "expiry/index.html")]
pub struct ExpiryView {
    pub title: &'static str,
    pub chrome: Chrome,
    pub groups: Vec<TimelineGroup>,
    pub ticks: Vec<Tick>,
    pub horizon_days: i64,
    pub width: i64,
    pub label_width: i64,
    pub chart_end: i64,
    pub status_x: i64,
    pub axis_height: i64,
    pub legend: Vec<Urgency>,
    pub today: String,
    pub domain_count: usize,
}

pub async fn show(
    state: web::Data<AppState>,
    user: CurrentUser,
) -> Result<HttpResponse, PageError> {
    let view = state.inventory.view();
    let served = state.watcher.served_certificates();
    let several_accounts = state.inventory.accounts().all().len() > 1
        || view
            .rows
            .first()
            .is_some_and(|first| view.rows.iter().any(|r| r.account != first.account));
    let now = OffsetDateTime::now_utc();
    let inputs = view.rows.iter().filter_map(DomainInput::of);
    let groups = timeline(inputs, &served, several_accounts, now);
    let ticks = (0..=HORIZON_DAYS / 30)
        .map(|i| {
            let day = i * 30;
            Tick {
                x: x_of_day(day),
                label: if day == 0 {
                    "today".to_owned()
                } else {
                    (now + time::Duration::days(day)).date().to_string()
                },
            }
        })
        .collect();
    let body = ExpiryView {
        title: "Certificate expiry",
        chrome: Chrome::of(&user),
        domain_count: groups.iter().map(|g| g.domains.len()).sum(),
        groups,
        ticks,
        horizon_days: HORIZON_DAYS,
        width: LABEL_WIDTH + CHART_WIDTH + STATUS_WIDTH,
        label_width: LABEL_WIDTH,
        chart_end: LABEL_WIDTH + CHART_WIDTH,
        status_x: LABEL_WIDTH + CHART_WIDTH + 10,
        axis_height: AXIS_HEIGHT,
        legend: Urgency::ALL.to_vec(),
        today: now.date().to_string(),
    };
    html(&body)
}

fn x_of_day(day: i64) -> i64 {
    LABEL_WIDTH + day.clamp(0, HORIZON_DAYS) * CHART_WIDTH / HORIZON_DAYS
}

/// What the timeline needs of one inventory row with a custom domain.
pub struct DomainInput<'a> {
    pub account: &'a str,
    pub team: Option<&'a str>,
    pub domain: &'a str,
    pub pool_id: &'a str,
    pub pool_name: &'a str,
    pub region: &'a str,
    /// The configured certificate's expiry.
    pub configured_not_after: Option<OffsetDateTime>,
}

impl<'a> DomainInput<'a> {
    /// The row's custom domain, if it has one.
    pub fn of(row: &'a DashboardRow) -> Option<Self> {
        Some(Self {
            account: &row.account,
            team: row.team.as_deref(),
            domain: row.custom_domain.as_deref()?,
            pool_id: &row.pool_id,
            pool_name: &row.pool_name,
            region: &row.region,
            configured_not_after: row.certificate.as_ref().and_then(|c| c.not_after),
        })
    }
}

/// Every domain of `inputs`, grouped by team (and account), soonest expiry first.
pub fn timeline<'a>(
    inputs: impl IntoIterator<Item = DomainInput<'a>>,
    served: &ServedFindings,
    several_accounts: bool,
    now: OffsetDateTime,
) -> Vec<TimelineGroup> {
    // (account, has no team, team) → domains: teams by name, "no team" last.
    let mut groups: BTreeMap<(Option<String>, bool, String), Vec<TimelineDomain>> = BTreeMap::new();
    for input in inputs {
        let configured = input.configured_not_after;
        let served_expiry = served
            .get(input.domain)
            .and_then(|s| s.not_after)
            .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
        let (effective_expiry, served_is_earlier) = match (configured, served_expiry) {
            (Some(c), Some(s)) if s < c => (Some(s), true),
            (Some(c), _) => (Some(c), false),
            (None, Some(s)) => (Some(s), true),
            (None, None) => (None, false),
        };
        let days_left = effective_expiry.map(|t| (t - now).whole_seconds().div_euclid(86_400));
        let beyond = days_left.is_some_and(|d| d > HORIZON_DAYS);
        let key = (
            several_accounts.then(|| input.account.to_owned()),
            input.team.is_none(),
            input.team.unwrap_or_default().to_owned(),
        );
        groups.entry(key).or_default().push(TimelineDomain {
            domain: input.domain.to_owned(),
            pool_id: input.pool_id.to_owned(),
            pool_name: input.pool_name.to_owned(),
            region: input.region.to_owned(),
            effective_expiry,
            served_is_earlier,
            days_left,
            urgency: Urgency::of(days_left),
            y: 0,
            bar_end: x_of_day(days_left.unwrap_or(0)),
            beyond,
        });
    }
    groups
        .into_iter()
        .map(|((account, _, team), mut domains)| {
            domains.sort_by(|a, b| {
                (a.effective_expiry.is_none(), a.effective_expiry, &a.domain).cmp(&(
                    b.effective_expiry.is_none(),
                    b.effective_expiry,
                    &b.domain,
                ))
            });
            for (i, d) in domains.iter_mut().enumerate() {
                d.y = AXIS_HEIGHT + i as i64 * ROW_HEIGHT;
            }
            let team_name = if team.is_empty() {
                "No team".to_owned()
            } else {
                team.clone()
            };
            let heading = match &account {
                Some(account) => format!("{team_name} · account {account}"),
                None => team_name,
            };
            TimelineGroup {
                heading,
                team,
                account,
                height: AXIS_HEIGHT + domains.len() as i64 * ROW_HEIGHT + 4,
                domains,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(
        account: &'a str,
        team: Option<&'a str>,
        domain: &'a str,
        days: Option<i64>,
        now: OffsetDateTime,
    ) -> DomainInput<'a> {
        DomainInput {
            account,
            team,
            domain,
            pool_id: "us-east-1_X",
            pool_name: "pool",
            region: "us-east-1",
            configured_not_after: days
                .map(|d| now + time::Duration::days(d) + time::Duration::hours(1)),
        }
    }

    #[test]
    fn urgency_follows_the_notification_thresholds() {
        let cases = [
            (None, Urgency::Unknown),
            (Some(-1), Urgency::Expired),
            (Some(0), Urgency::Critical),
            (Some(7), Urgency::Critical),
            (Some(8), Urgency::Urgent),
            (Some(14), Urgency::Urgent),
            (Some(15), Urgency::Soon),
            (Some(30), Urgency::Soon),
            (Some(31), Urgency::Fine),
            (Some(400), Urgency::Fine),
        ];
        for (days, urgency) in cases {
            assert_eq!(Urgency::of(days), urgency, "{days:?}");
        }
    }

    #[test]
    fn groups_by_account_and_team_with_no_team_last_and_soonest_first() {
        let now = OffsetDateTime::now_utc();
        let inputs = vec![
            input("alpha", None, "c.example", Some(3), now),
            input("alpha", Some("payments"), "b.example", Some(90), now),
            input("alpha", Some("payments"), "a.example", Some(10), now),
            input("beta", Some("payments"), "d.example", Some(250), now),
            input("beta", Some("identity"), "e.example", Some(-2), now),
            input("beta", Some("identity"), "f.example", None, now),
        ];
        let groups = timeline(inputs, &ServedFindings::default(), true, now);
        let headings: Vec<&str> = groups.iter().map(|g| g.heading.as_str()).collect();
        assert_eq!(
            headings,
            [
                "payments · account alpha",
                "No team · account alpha",
                "identity · account beta",
                "payments · account beta"
            ]
        );
        let first: Vec<&str> = groups[0]
            .domains
            .iter()
            .map(|d| d.domain.as_str())
            .collect();
        assert_eq!(first, ["a.example", "b.example"]);
        let identity = &groups[2].domains;
        assert_eq!(identity[0].status_text(), "expired 2 days ago");
        assert_eq!(identity[1].urgency, Urgency::Unknown, "unknown last");
        let beyond = &groups[3].domains[0];
        assert!(beyond.beyond && beyond.bar_end == LABEL_WIDTH + CHART_WIDTH);
        assert!(beyond.status_text().contains("beyond 180 days"));
        // One account: teams only.
        let one = timeline(
            vec![input("alpha", Some("payments"), "a.example", Some(10), now)],
            &ServedFindings::default(),
            false,
            now,
        );
        assert_eq!(one[0].heading, "payments");
    }
}
