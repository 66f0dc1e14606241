//! An audit entry and its hash chain (PRODUCT.md §6): `hash = SHA-256(prev_hash ‖
//! canonical entry)`, where the canonical entry is the JSON array of every field but the
//! hashes, in a fixed order.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What happened, before it is stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub actor: String,
    pub role: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub action: String,
    pub pool_id: Option<String>,
    pub domain: Option<String>,
    pub old_certificate_arn: Option<String>,
    pub new_certificate_arn: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
    pub aws_request_id: Option<String>,
}

/// A stored entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: i64,
    /// RFC 3339, UTC, milliseconds.
    pub at: String,
    #[serde(flatten)]
    pub record: AuditRecord,
    pub prev_hash: String,
    pub hash: String,
}

impl AuditEntry {
    /// The canonical form the hash covers.
    pub fn canonical(id: i64, at: &str, r: &AuditRecord) -> String {
        serde_json::json!([
            id,
            at,
            r.actor,
            r.role,
            r.source_ip,
            r.user_agent,
            r.action,
            r.pool_id,
            r.domain,
            r.old_certificate_arn,
            r.new_certificate_arn,
            r.outcome,
            r.detail,
            r.aws_request_id,
        ])
        .to_string()
    }

    /// `hash` for an entry with these fields after `prev_hash`.
    pub fn compute_hash(prev_hash: &str, id: i64, at: &str, record: &AuditRecord) -> String {
        let mut hasher = Sha256::new();
        hasher.update(prev_hash.as_bytes());
        hasher.update(Self::canonical(id, at, record).as_bytes());
        hex::encode(hasher.finalize())
    }

    /// Builds the entry that follows `prev_hash`.
    pub fn seal(id: i64, at: String, record: AuditRecord, prev_hash: String) -> Self {
        let hash = Self::compute_hash(&prev_hash, id, &at, &record);
        Self {
            id,
            at,
            record,
            prev_hash,
            hash,
        }
    }
}

/// Where a chain stops being intact.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChainBreak {
    #[error("entry {id}: its contents do not match its hash (changed)")]
    Altered { id: i64 },
    #[error(
        "entry {id}: it does not follow entry {previous} (an entry before it was removed, changed or moved)"
    )]
    Unlinked { id: i64, previous: i64 },
    #[error("entry {expected}: missing (entries jump from {previous} to {found})")]
    Missing {
        expected: i64,
        previous: i64,
        found: i64,
    },
    #[error(
        "entry {expected}: missing at the end of the log (the log recorded {recorded} entries)"
    )]
    Truncated { expected: i64, recorded: i64 },
}

/// Checks entries in id order against each other and against the recorded head
/// (count and last hash). Returns how many were checked.
pub struct ChainVerifier {
    previous_id: i64,
    previous_hash: String,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            previous_id: 0,
            previous_hash: GENESIS_HASH.to_owned(),
        }
    }
}

impl ChainVerifier {
    pub fn check(&mut self, entry: &AuditEntry) -> Result<(), ChainBreak> {
        if entry.id != self.previous_id + 1 {
            return Err(ChainBreak::Missing {
                expected: self.previous_id + 1,
                previous: self.previous_id,
                found: entry.id,
            });
        }
        if entry.hash
            != AuditEntry::compute_hash(&entry.prev_hash, entry.id, &entry.at, &entry.record)
        {
            return Err(ChainBreak::Altered { id: entry.id });
        }
        if entry.prev_hash != self.previous_hash {
            return Err(ChainBreak::Unlinked {
                id: entry.id,
                previous: self.previous_id,
            });
        }
        self.previous_id = entry.id;
        self.previous_hash = entry.hash.clone();
        Ok(())
    }

    /// After the last entry: the log must be as long as its recorded head says.
    pub fn finish(&self, recorded_count: i64, recorded_last_hash: &str) -> Result<i64, ChainBreak> {
        if recorded_count > self.previous_id {
            return Err(ChainBreak::Truncated {
                expected: self.previous_id + 1,
                recorded: recorded_count,
            });
        }
        if recorded_count == self.previous_id && recorded_last_hash != self.previous_hash {
            return Err(ChainBreak::Altered {
                id: self.previous_id,
            });
        }
        Ok(self.previous_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(n: i64) -> Vec<AuditEntry> {
        let mut previous = GENESIS_HASH.to_owned();
        (1..=n)
            .map(|id| {
                let record = AuditRecord {
                    actor: format!("user{id}"),
                    action: "auth.sign_in".into(),
                    outcome: "success".into(),
                    ..Default::default()
                };
                let entry = AuditEntry::seal(
                    id,
                    format!("2026-11-29T10:00:0{id}.000Z"),
                    record,
                    previous.clone(),
                );
                previous = entry.hash.clone();
                entry
            })
            .collect()
    }

    fn verify(entries: &[AuditEntry], count: i64, last: &str) -> Result<i64, ChainBreak> {
        let mut verifier = ChainVerifier::default();
        for e in entries {
            verifier.check(e)?;
        }
        verifier.finish(count, last)
    }

    #[test]
    fn an_intact_chain_verifies_and_each_tampering_names_the_entry() {
        let entries = chain(5);
        let last = entries[4].hash.clone();
        assert_eq!(verify(&entries, 5, &last), Ok(5));

        let mut changed = entries.clone();
        changed[2].record.actor = "mallory".into();
        assert_eq!(
            verify(&changed, 5, &last),
            Err(ChainBreak::Altered { id: 3 })
        );

        let mut removed = entries.clone();
        removed.remove(1);
        assert_eq!(
            verify(&removed, 5, &last),
            Err(ChainBreak::Missing {
                expected: 2,
                previous: 1,
                found: 3
            })
        );

        // Swapping the contents of two rows while keeping ids in place.
        let mut swapped = entries.clone();
        let (a, b) = (swapped[1].clone(), swapped[2].clone());
        swapped[1] = AuditEntry { id: 2, ..b };
        swapped[2] = AuditEntry { id: 3, ..a };
        assert_eq!(
            verify(&swapped, 5, &last),
            Err(ChainBreak::Altered { id: 2 })
        );

        let truncated = &entries[..4];
        assert_eq!(
            verify(truncated, 5, &last),
            Err(ChainBreak::Truncated {
                expected: 5,
                recorded: 5
            })
        );
    }
}
