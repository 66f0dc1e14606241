//! The phases of a certificate's propagation (PRODUCT.md §5).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::same_serial;

/// Where a change stands, as the server decides it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// AWS accepted the update.
    Submitted,
    /// Cognito says UPDATING.
    Updating,
    /// Cognito says ACTIVE.
    Distributed,
    /// The edge serves the new certificate (its serial equals ACM's).
    Verified,
    Failed,
    TimedOut,
    /// A later change of the same domain replaced this one.
    Superseded,
}

impl Phase {
    /// Whether `self` comes before `other` in a change's life: submitted, updating,
    /// distributed, verified, then the outcomes (any of them can end a change).
    pub fn precedes(self, other: Phase) -> bool {
        fn rank(phase: Phase) -> u8 {
            match phase {
                Phase::Submitted => 0,
                Phase::Updating => 1,
                Phase::Distributed => 2,
                Phase::Verified | Phase::Failed | Phase::TimedOut | Phase::Superseded => 3,
            }
        }
        rank(self) < rank(other)
    }

    pub const ALL: [Phase; 7] = [
        Phase::Submitted,
        Phase::Updating,
        Phase::Distributed,
        Phase::Verified,
        Phase::Failed,
        Phase::TimedOut,
        Phase::Superseded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Submitted => "submitted",
            Phase::Updating => "updating",
            Phase::Distributed => "distributed",
            Phase::Verified => "verified",
            Phase::Failed => "failed",
            Phase::TimedOut => "timed_out",
            Phase::Superseded => "superseded",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Phase::Verified | Phase::Failed | Phase::TimedOut | Phase::Superseded
        )
    }
}

impl FromStr for Phase {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Phase::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown phase {s:?}"))
    }
}

/// The wire form (API, live events) is the stored text.
impl serde::Serialize for Phase {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Phase {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A Cognito custom domain's status (DescribeUserPoolDomain), with an arm for values
/// AWS adds later.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum DomainStatus {
    Creating,
    Deleting,
    Updating,
    Active,
    Failed,
    /// A status certdeck does not know yet, as AWS spelled it.
    Unknown(String),
}

impl DomainStatus {
    pub fn parse(s: &str) -> Self {
        match s {
            "CREATING" => DomainStatus::Creating,
            "DELETING" => DomainStatus::Deleting,
            "UPDATING" => DomainStatus::Updating,
            "ACTIVE" => DomainStatus::Active,
            "FAILED" => DomainStatus::Failed,
            other => DomainStatus::Unknown(other.to_owned()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            DomainStatus::Creating => "CREATING",
            DomainStatus::Deleting => "DELETING",
            DomainStatus::Updating => "UPDATING",
            DomainStatus::Active => "ACTIVE",
            DomainStatus::Failed => "FAILED",
            DomainStatus::Unknown(s) => s,
        }
    }
}

impl From<String> for DomainStatus {
    fn from(s: String) -> Self {
        DomainStatus::parse(&s)
    }
}

impl From<DomainStatus> for String {
    fn from(s: DomainStatus) -> Self {
        s.as_str().to_owned()
    }
}

impl fmt::Display for DomainStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a look at a change decides: move to another phase (and why), or stay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    Stay,
    To {
        phase: Phase,
        detail: Option<String>,
    },
}

/// What Cognito shows of the changed domain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CognitoSeen<'a> {
    /// AWS no longer knows the domain.
    Gone,
    Domain {
        status: Option<&'a DomainStatus>,
        certificate_arn: Option<&'a str>,
    },
}

impl Phase {
    /// At `now` (Unix seconds): past the deadline a change still in flight times out.
    pub fn at(self, now: i64, submitted_at: i64, deadline: i64) -> Transition {
        if self.is_terminal() || now < deadline {
            return Transition::Stay;
        }
        let minutes = (deadline - submitted_at) / 60;
        Transition::To {
            phase: Phase::TimedOut,
            detail: Some(format!(
                "the edge did not serve the new certificate within {minutes} min"
            )),
        }
    }

    /// After Cognito was read for a change to `new_certificate_arn`.
    pub fn after_cognito(self, seen: CognitoSeen<'_>, new_certificate_arn: &str) -> Transition {
        if self.is_terminal() {
            return Transition::Stay;
        }
        let to = |phase: Phase, detail: &str| Transition::To {
            phase,
            detail: Some(detail.to_owned()),
        };
        let (status, certificate_arn) = match seen {
            CognitoSeen::Gone => return to(Phase::Failed, "AWS no longer knows the domain"),
            CognitoSeen::Domain {
                status,
                certificate_arn,
            } => (status, certificate_arn),
        };
        if certificate_arn.is_some_and(|a| a != new_certificate_arn) {
            return to(Phase::Superseded, "the domain now uses another certificate");
        }
        let next = match (status, self) {
            (Some(DomainStatus::Failed), _) => {
                return to(Phase::Failed, "Cognito reports the domain as FAILED");
            }
            (Some(DomainStatus::Updating | DomainStatus::Creating), Phase::Submitted) => {
                Phase::Updating
            }
            (Some(DomainStatus::Active), Phase::Submitted | Phase::Updating) => Phase::Distributed,
            _ => self,
        };
        if next == self {
            Transition::Stay
        } else {
            Transition::To {
                phase: next,
                detail: None,
            }
        }
    }

    /// After the edge was probed: it serves the new certificate when its serial is the
    /// one ACM gives for it, compared as numbers (ACM's text form is not the probe's).
    pub fn after_probe(self, served_serial: &str, expected_serial: Option<&str>) -> Transition {
        let serves_new =
            expected_serial.is_some_and(|expected| same_serial(served_serial, expected));
        if self.is_terminal() || !serves_new {
            return Transition::Stay;
        }
        Transition::To {
            phase: Phase::Verified,
            detail: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NEW: &str = "arn:aws:acm:us-east-1:123456789012:certificate/new";
    const OTHER: &str = "arn:aws:acm:us-east-1:123456789012:certificate/other";

    #[test]
    fn phases_come_in_a_changes_order_and_outcomes_end_it() {
        use Phase::*;
        assert!(Submitted.precedes(Updating));
        assert!(Updating.precedes(Distributed));
        assert!(Distributed.precedes(Verified));
        assert!(Updating.precedes(Failed));
        assert!(!Distributed.precedes(Updating));
        assert!(!Verified.precedes(Distributed));
        assert!(!Updating.precedes(Updating), "new readings of one phase");
        assert!(!Failed.precedes(TimedOut) && !TimedOut.precedes(Failed));
    }

    fn to(phase: Phase) -> Transition {
        Transition::To {
            phase,
            detail: None,
        }
    }

    fn cognito(phase: Phase, status: &str, arn: Option<&str>) -> Transition {
        let status = DomainStatus::parse(status);
        phase.after_cognito(
            CognitoSeen::Domain {
                status: Some(&status),
                certificate_arn: arn,
            },
            NEW,
        )
    }

    fn moved_to(t: &Transition) -> Option<Phase> {
        match t {
            Transition::To { phase, .. } => Some(*phase),
            Transition::Stay => None,
        }
    }

    #[test]
    fn phases_round_trip_through_their_names() {
        for p in Phase::ALL {
            assert_eq!(p.as_str().parse::<Phase>(), Ok(p));
        }
        assert!("nope".parse::<Phase>().is_err());
    }

    #[test]
    fn domain_statuses_parse_with_an_arm_for_new_values() {
        for s in ["CREATING", "DELETING", "UPDATING", "ACTIVE", "FAILED"] {
            let status = DomainStatus::parse(s);
            assert!(!matches!(status, DomainStatus::Unknown(_)), "{s}");
            assert_eq!(status.as_str(), s);
        }
        let new = DomainStatus::parse("MIGRATING");
        assert_eq!(new, DomainStatus::Unknown("MIGRATING".into()));
        assert_eq!(new.to_string(), "MIGRATING");
        assert_eq!(
            serde_json::to_string(&DomainStatus::Active).unwrap(),
            "\"ACTIVE\""
        );
        let back: DomainStatus = serde_json::from_str("\"UPDATING\"").unwrap();
        assert_eq!(back, DomainStatus::Updating);
    }

    #[test]
    fn cognito_moves_a_change_forward() {
        assert_eq!(
            cognito(Phase::Submitted, "UPDATING", Some(NEW)),
            to(Phase::Updating)
        );
        assert_eq!(
            cognito(Phase::Submitted, "CREATING", Some(NEW)),
            to(Phase::Updating)
        );
        assert_eq!(
            cognito(Phase::Submitted, "ACTIVE", Some(NEW)),
            to(Phase::Distributed)
        );
        assert_eq!(
            cognito(Phase::Updating, "ACTIVE", Some(NEW)),
            to(Phase::Distributed)
        );
        // A domain that shows no certificate yet is not superseded.
        assert_eq!(
            cognito(Phase::Updating, "ACTIVE", None),
            to(Phase::Distributed)
        );
    }

    #[test]
    fn cognito_never_moves_a_change_back_or_on_what_it_does_not_know() {
        assert_eq!(
            cognito(Phase::Updating, "UPDATING", Some(NEW)),
            Transition::Stay
        );
        assert_eq!(
            cognito(Phase::Distributed, "UPDATING", Some(NEW)),
            Transition::Stay
        );
        assert_eq!(
            cognito(Phase::Distributed, "ACTIVE", Some(NEW)),
            Transition::Stay
        );
        assert_eq!(
            cognito(Phase::Submitted, "DELETING", Some(NEW)),
            Transition::Stay
        );
        assert_eq!(
            cognito(Phase::Submitted, "MIGRATING", Some(NEW)),
            Transition::Stay
        );
        let no_status = Phase::Submitted.after_cognito(
            CognitoSeen::Domain {
                status: None,
                certificate_arn: Some(NEW),
            },
            NEW,
        );
        assert_eq!(no_status, Transition::Stay);
    }

    #[test]
    fn failed_gone_and_superseded_end_a_change() {
        for phase in [Phase::Submitted, Phase::Updating, Phase::Distributed] {
            let failed = cognito(phase, "FAILED", Some(NEW));
            assert_eq!(moved_to(&failed), Some(Phase::Failed), "{phase}");
            let gone = phase.after_cognito(CognitoSeen::Gone, NEW);
            assert_eq!(
                gone,
                Transition::To {
                    phase: Phase::Failed,
                    detail: Some("AWS no longer knows the domain".into())
                }
            );
            let superseded = cognito(phase, "ACTIVE", Some(OTHER));
            assert_eq!(
                superseded,
                Transition::To {
                    phase: Phase::Superseded,
                    detail: Some("the domain now uses another certificate".into())
                }
            );
            // Another certificate wins over the status it is in.
            assert_eq!(
                moved_to(&cognito(phase, "FAILED", Some(OTHER))),
                Some(Phase::Superseded)
            );
        }
    }

    #[test]
    fn the_edge_serving_the_expected_serial_verifies() {
        for phase in [Phase::Submitted, Phase::Updating, Phase::Distributed] {
            assert_eq!(
                phase.after_probe("0a:01", Some("0a:01")),
                to(Phase::Verified)
            );
            assert_eq!(phase.after_probe("0a:02", Some("0a:01")), Transition::Stay);
            // ACM's text form differs from the probe's: the same number verifies.
            assert_eq!(
                phase.after_probe("8f:3c:01", Some("00:8F:3C:01")),
                to(Phase::Verified)
            );
            // Without ACM's serial nothing can be verified.
            assert_eq!(phase.after_probe("0a:01", None), Transition::Stay);
        }
    }

    #[test]
    fn a_change_times_out_at_its_deadline() {
        let (submitted, deadline) = (1_000, 1_000 + 45 * 60);
        for phase in [Phase::Submitted, Phase::Updating, Phase::Distributed] {
            assert_eq!(
                phase.at(deadline - 1, submitted, deadline),
                Transition::Stay
            );
            for now in [deadline, deadline + 1] {
                assert_eq!(
                    phase.at(now, submitted, deadline),
                    Transition::To {
                        phase: Phase::TimedOut,
                        detail: Some(
                            "the edge did not serve the new certificate within 45 min".into()
                        )
                    }
                );
            }
        }
    }

    #[test]
    fn terminal_phases_never_move() {
        for phase in Phase::ALL.into_iter().filter(|p| p.is_terminal()) {
            assert_eq!(phase.at(i64::MAX, 0, 1), Transition::Stay, "{phase}");
            assert_eq!(
                phase.after_cognito(CognitoSeen::Gone, NEW),
                Transition::Stay
            );
            for status in ["UPDATING", "ACTIVE", "FAILED"] {
                assert_eq!(cognito(phase, status, Some(NEW)), Transition::Stay);
                assert_eq!(cognito(phase, status, Some(OTHER)), Transition::Stay);
            }
            assert_eq!(phase.after_probe("0a", Some("0a")), Transition::Stay);
        }
    }
}
