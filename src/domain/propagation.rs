//! The phases of a certificate's propagation (PRODUCT.md §5).

use std::fmt;
use std::str::FromStr;

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

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
