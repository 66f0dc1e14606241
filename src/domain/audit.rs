//! An audit entry and its chain (PRODUCT.md §6): `hash = HMAC-SHA-256(audit key,
//! prev_hash ‖ canonical entry)`, where the canonical entry is the JSON array of every
//! field but the hashes, in a fixed order. Entries written before the log had a key keep
//! the plain form `SHA-256(prev_hash ‖ canonical entry)` up to the recorded switch point.

use std::collections::BTreeMap;
use std::sync::Arc;

use hmac::{KeyInit, Mac};
use secrecy::{ExposeSecret, SecretSlice};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first entry.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The shortest audit key accepted, in bytes.
pub const AUDIT_KEY_MIN_LEN: usize = 32;

/// The secret of the keyed chain. Never stored in the database, never logged: the
/// database keeps only a check value (an HMAC of a fixed label) to tell a wrong key.
#[derive(Clone)]
pub struct AuditKey(Arc<SecretSlice<u8>>);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey([REDACTED])")
    }
}

impl AuditKey {
    /// The key as configured (its text, surrounding whitespace removed); at least
    /// [`AUDIT_KEY_MIN_LEN`] bytes, e.g. `openssl rand -hex 32`.
    pub fn parse(text: &str) -> Result<Self, String> {
        let text = text.trim();
        if text.len() < AUDIT_KEY_MIN_LEN {
            return Err(format!(
                "the audit key needs at least {AUDIT_KEY_MIN_LEN} characters (e.g. `openssl rand -hex 32`)"
            ));
        }
        Ok(Self(Arc::new(SecretSlice::from(text.as_bytes().to_vec()))))
    }

    fn mac(&self, parts: &[&[u8]]) -> String {
        // HMAC takes a key of any length.
        let mut mac = hmac::Hmac::<Sha256>::new_from_slice(self.0.expose_secret())
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of any length"));
        for part in parts {
            mac.update(part);
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// Stored in the database so that a wrong key reads as "the key does not match"
    /// rather than as a broken first entry.
    pub fn check_value(&self) -> String {
        self.mac(&[b"certdeck audit key check v1"])
    }

    /// Seals the switch point, so that moving it (to pass keyed entries off as
    /// key-less ones) needs the key.
    pub fn switch_value(&self, keyed_from: i64) -> String {
        self.mac(&[
            b"certdeck audit chain keyed from ",
            keyed_from.to_string().as_bytes(),
        ])
    }
}

/// How the entries of one log are sealed: plain SHA-256 before `keyed_from`, HMAC with
/// the key from it on. `keyed_from = None`: the log never had a key.
#[derive(Debug, Clone, Default)]
pub struct Sealing {
    pub key: Option<AuditKey>,
    pub keyed_from: Option<i64>,
}

impl Sealing {
    /// The hash entry `id` must carry, or why it cannot be computed.
    pub fn hash_of(
        &self,
        prev_hash: &str,
        id: i64,
        at: &str,
        record: &AuditRecord,
    ) -> Result<String, ChainBreak> {
        match self.keyed_from {
            Some(keyed_from) if id >= keyed_from => match &self.key {
                Some(key) => Ok(AuditEntry::compute_keyed_hash(
                    key, prev_hash, id, at, record,
                )),
                None => Err(ChainBreak::KeyMissing { keyed_from }),
            },
            _ => Ok(AuditEntry::compute_hash(prev_hash, id, at, record)),
        }
    }
}

/// What an audit entry records, in the dotted form stored in `audit_log.action` (and
/// covered by the chain's hash, so the text of each action never changes).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AuditAction {
    SignIn,
    SignOut,
    CsrfRejected,
    /// A signed-in user asked for something their role does not allow.
    AccessDenied,
    /// A pool was refreshed from AWS on request.
    PoolRefresh,
    AccountCreated,
    AccountRoleChanged,
    AccountPasswordChanged,
    AccountRemoved,
    AccountUnlocked,
    CertificateUpdateRequested,
    CertificateUpdateSucceeded,
    CertificateUpdateFailed,
    /// The two-person rule: a change request made, approved, rejected, or expired.
    ApprovalRequested,
    ApprovalApproved,
    ApprovalRejected,
    ApprovalExpired,
    /// An API token was made, revoked, or used (one entry per token and minute).
    TokenCreated,
    TokenRevoked,
    TokenUsed,
    /// A bulk rotation (or a scheduled change) started, halted, finished, or was
    /// cancelled before it started; the detail names it (`bulk <id>`).
    BulkStarted,
    BulkHalted,
    BulkFinished,
    BulkCancelled,
    /// An admin sent a test notification to a channel (`/notifications`).
    NotificationTest,
    /// A propagation reached this phase (`propagation.<phase>`).
    Propagation(crate::domain::propagation::Phase),
    /// An action certdeck does not write (a row of another version, a test's); kept
    /// as read so that the chain still verifies.
    Other(String),
}

impl AuditAction {
    /// Every action certdeck writes.
    pub fn known() -> impl Iterator<Item = AuditAction> {
        [
            AuditAction::SignIn,
            AuditAction::SignOut,
            AuditAction::CsrfRejected,
            AuditAction::AccessDenied,
            AuditAction::PoolRefresh,
            AuditAction::AccountCreated,
            AuditAction::AccountRoleChanged,
            AuditAction::AccountPasswordChanged,
            AuditAction::AccountRemoved,
            AuditAction::AccountUnlocked,
            AuditAction::CertificateUpdateRequested,
            AuditAction::CertificateUpdateSucceeded,
            AuditAction::CertificateUpdateFailed,
            AuditAction::ApprovalRequested,
            AuditAction::ApprovalApproved,
            AuditAction::ApprovalRejected,
            AuditAction::ApprovalExpired,
            AuditAction::TokenCreated,
            AuditAction::TokenRevoked,
            AuditAction::TokenUsed,
            AuditAction::BulkStarted,
            AuditAction::BulkHalted,
            AuditAction::BulkFinished,
            AuditAction::BulkCancelled,
            AuditAction::NotificationTest,
        ]
        .into_iter()
        .chain(
            crate::domain::propagation::Phase::ALL
                .into_iter()
                .map(AuditAction::Propagation),
        )
    }

    /// The stored text.
    pub fn as_str(&self) -> &str {
        use crate::domain::propagation::Phase;
        match self {
            AuditAction::SignIn => "auth.sign_in",
            AuditAction::SignOut => "auth.sign_out",
            AuditAction::CsrfRejected => "csrf.rejected",
            AuditAction::AccessDenied => "access.denied",
            AuditAction::PoolRefresh => "pool.refresh",
            AuditAction::AccountCreated => "account.created",
            AuditAction::AccountRoleChanged => "account.role_changed",
            AuditAction::AccountPasswordChanged => "account.password_changed",
            AuditAction::AccountRemoved => "account.removed",
            AuditAction::AccountUnlocked => "account.unlocked",
            AuditAction::CertificateUpdateRequested => "certificate.update.requested",
            AuditAction::CertificateUpdateSucceeded => "certificate.update.succeeded",
            AuditAction::CertificateUpdateFailed => "certificate.update.failed",
            AuditAction::ApprovalRequested => "certificate.approval.requested",
            AuditAction::ApprovalApproved => "certificate.approval.approved",
            AuditAction::ApprovalRejected => "certificate.approval.rejected",
            AuditAction::ApprovalExpired => "certificate.approval.expired",
            AuditAction::TokenCreated => "token.created",
            AuditAction::TokenRevoked => "token.revoked",
            AuditAction::TokenUsed => "token.used",
            AuditAction::BulkStarted => "bulk.started",
            AuditAction::BulkHalted => "bulk.halted",
            AuditAction::BulkFinished => "bulk.finished",
            AuditAction::BulkCancelled => "bulk.cancelled",
            AuditAction::NotificationTest => "notification.test",
            AuditAction::Propagation(phase) => match phase {
                Phase::Submitted => "propagation.submitted",
                Phase::Updating => "propagation.updating",
                Phase::Distributed => "propagation.distributed",
                Phase::Verified => "propagation.verified",
                Phase::Failed => "propagation.failed",
                Phase::TimedOut => "propagation.timed_out",
                Phase::Superseded => "propagation.superseded",
            },
            AuditAction::Other(text) => text,
        }
    }

    /// The action a stored text names (never fails: unknown text is `Other`).
    pub fn from_text(text: &str) -> Self {
        AuditAction::known()
            .find(|a| a.as_str() == text)
            .unwrap_or_else(|| AuditAction::Other(text.to_owned()))
    }
}

/// `Other("")`: only a placeholder for `..AuditRecord::default()`; every record sets
/// its action.
impl Default for AuditAction {
    fn default() -> Self {
        AuditAction::Other(String::new())
    }
}

impl std::fmt::Display for AuditAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for AuditAction {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(AuditAction::from_text(s))
    }
}

impl From<&str> for AuditAction {
    fn from(text: &str) -> Self {
        AuditAction::from_text(text)
    }
}

impl From<String> for AuditAction {
    fn from(text: String) -> Self {
        AuditAction::from_text(&text)
    }
}

impl PartialEq<str> for AuditAction {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for AuditAction {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

// The wire form (JSON exports, the chain's canonical form) is the stored text.
impl Serialize for AuditAction {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for AuditAction {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(AuditAction::from)
    }
}

/// What happened, before it is stored.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub actor: String,
    pub role: Option<String>,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub action: AuditAction,
    pub pool_id: Option<String>,
    pub domain: Option<String>,
    pub old_certificate_arn: Option<String>,
    pub new_certificate_arn: Option<String>,
    pub outcome: String,
    pub detail: Option<String>,
    pub aws_request_id: Option<String>,
    /// certdeck's name of the AWS account acted in, and its 12-digit id.
    #[serde(default)]
    pub account: Option<String>,
    #[serde(default)]
    pub account_id: Option<String>,
    /// The role session a change was made through (`arn:aws:sts::…:assumed-role/…`).
    #[serde(default)]
    pub assumed_role: Option<String>,
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
    /// The canonical form the hash covers. The account fields came later: an entry
    /// without them has the form entries had before, so older chains still verify, and
    /// an entry with any of them covers all three.
    pub fn canonical(id: i64, at: &str, r: &AuditRecord) -> String {
        let mut buffer = Vec::with_capacity(512);
        write_canonical(&mut buffer, id, at, r);
        // JSON written by serde_json is UTF-8.
        String::from_utf8(buffer).unwrap_or_default()
    }

    /// The key-less `hash` (entries before the switch point) for an entry with these
    /// fields after `prev_hash`.
    pub fn compute_hash(prev_hash: &str, id: i64, at: &str, record: &AuditRecord) -> String {
        let mut buffer = Vec::with_capacity(512);
        write_canonical(&mut buffer, id, at, record);
        let mut hasher = Sha256::new();
        hasher.update(prev_hash.as_bytes());
        hasher.update(&buffer);
        hex::encode(hasher.finalize())
    }

    /// The keyed `hash`: HMAC-SHA-256(key, prev_hash ‖ canonical entry).
    pub fn compute_keyed_hash(
        key: &AuditKey,
        prev_hash: &str,
        id: i64,
        at: &str,
        record: &AuditRecord,
    ) -> String {
        let mut buffer = Vec::with_capacity(512);
        write_canonical(&mut buffer, id, at, record);
        key.mac(&[prev_hash.as_bytes(), &buffer])
    }

    /// Builds the key-less entry that follows `prev_hash` (the form before the switch
    /// point).
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

    /// Builds the keyed entry that follows `prev_hash`.
    pub fn seal_keyed(
        key: &AuditKey,
        id: i64,
        at: String,
        record: AuditRecord,
        prev_hash: String,
    ) -> Self {
        let hash = Self::compute_keyed_hash(key, &prev_hash, id, &at, &record);
        Self {
            id,
            at,
            record,
            prev_hash,
            hash,
        }
    }
}

/// Writes the canonical form of an entry into `out` (cleared first): the JSON array
/// `serde_json::Value::to_string` gave for it, byte for byte, without building the
/// values (verifying a million entries would otherwise spend most of its time here).
fn write_canonical(out: &mut Vec<u8>, id: i64, at: &str, r: &AuditRecord) {
    fn next<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
        out.push(b',');
        // Writing strings, numbers and nulls into a Vec cannot fail.
        let _ = serde_json::to_writer(&mut *out, value);
    }
    out.clear();
    out.push(b'[');
    let _ = serde_json::to_writer(&mut *out, &id);
    next(out, at);
    next(out, &r.actor);
    next(out, &r.role);
    next(out, &r.source_ip);
    next(out, &r.user_agent);
    next(out, r.action.as_str());
    next(out, &r.pool_id);
    next(out, &r.domain);
    next(out, &r.old_certificate_arn);
    next(out, &r.new_certificate_arn);
    next(out, &r.outcome);
    next(out, &r.detail);
    next(out, &r.aws_request_id);
    if r.account.is_some() || r.account_id.is_some() || r.assumed_role.is_some() {
        next(out, &r.account);
        next(out, &r.account_id);
        next(out, &r.assumed_role);
    }
    out.push(b']');
}

/// Checks entries' hashes one after another with the key's HMAC state prepared once and
/// one buffer reused, so that a verification allocates nothing per entry.
#[derive(Clone)]
struct ChainHasher {
    keyed: Option<hmac::Hmac<Sha256>>,
    buffer: Vec<u8>,
}

impl std::fmt::Debug for ChainHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChainHasher")
    }
}

impl ChainHasher {
    fn new(sealing: &Sealing) -> Self {
        let keyed = sealing
            .key
            .as_ref()
            .and_then(|key| hmac::Hmac::<Sha256>::new_from_slice(key.0.expose_secret()).ok());
        Self {
            keyed,
            buffer: Vec::with_capacity(1024),
        }
    }

    /// Whether `entry` carries the hash `sealing` gives it.
    fn matches(&mut self, sealing: &Sealing, entry: &AuditEntry) -> Result<bool, ChainBreak> {
        write_canonical(&mut self.buffer, entry.id, &entry.at, &entry.record);
        let digest: [u8; 32] = match sealing.keyed_from {
            Some(keyed_from) if entry.id >= keyed_from => {
                let Some(prepared) = &self.keyed else {
                    return Err(ChainBreak::KeyMissing { keyed_from });
                };
                let mut mac = prepared.clone();
                mac.update(entry.prev_hash.as_bytes());
                mac.update(&self.buffer);
                mac.finalize().into_bytes().into()
            }
            _ => {
                let mut hasher = Sha256::new();
                hasher.update(entry.prev_hash.as_bytes());
                hasher.update(&self.buffer);
                hasher.finalize().into()
            }
        };
        let mut hex = [0u8; 64];
        if hex::encode_to_slice(digest, &mut hex).is_err() {
            return Ok(false);
        }
        Ok(hex[..] == *entry.hash.as_bytes())
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
    #[error(
        "entry {id}: past the head of the log (the log recorded {recorded} entries): certdeck did not write it"
    )]
    PastHead { id: i64, recorded: i64 },
    #[error("the audit key does not match the key this audit log was written with")]
    WrongKey,
    #[error("entries from {keyed_from} on are keyed: verifying them needs the audit key")]
    KeyMissing { keyed_from: i64 },
    #[error(
        "the switch point to the keyed chain (entry {keyed_from}) does not match the audit key: it was moved or removed"
    )]
    SwitchMoved { keyed_from: i64 },
    #[error(
        "no switch point to the keyed chain is recorded: certdeck never wrote this log with an audit key, or the switch point was removed"
    )]
    NeverKeyed,
    #[error(
        "entry {id}: its hash differs from the one anchored at {anchored_at} (the log was re-chained)"
    )]
    AnchorMismatch { id: i64, anchored_at: String },
    #[error(
        "entry {expected}: missing; the log ends at entry {count} but {anchored} entries were anchored at {anchored_at} (its tail was cut)"
    )]
    BehindAnchor {
        expected: i64,
        count: i64,
        anchored: i64,
        anchored_at: String,
    },
}

impl ChainBreak {
    /// The first entry the break touches, when it names one (entries before it verified).
    pub fn entry(&self) -> Option<i64> {
        match self {
            Self::Altered { id }
            | Self::Unlinked { id, .. }
            | Self::PastHead { id, .. }
            | Self::AnchorMismatch { id, .. } => Some(*id),
            Self::Missing { expected, .. }
            | Self::Truncated { expected, .. }
            | Self::BehindAnchor { expected, .. } => Some(*expected),
            Self::KeyMissing { keyed_from } | Self::SwitchMoved { keyed_from } => Some(*keyed_from),
            Self::WrongKey | Self::NeverKeyed => None,
        }
    }
}

/// The head of the log as written out of the database (PRODUCT.md §6): one JSON line
/// of the anchor file, and one log line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditAnchor {
    /// Entries in the log.
    pub count: i64,
    /// The hash of entry `count`.
    pub hash: String,
    /// When it was written (RFC 3339, UTC).
    pub at: String,
}

impl AuditAnchor {
    /// Every anchor of an anchor file (one JSON object a line); a line that does not
    /// parse is an error naming it, since a damaged anchor file proves nothing.
    pub fn parse_lines(text: &str) -> Result<Vec<Self>, String> {
        text.lines()
            .enumerate()
            .filter(|(_, line)| !line.trim().is_empty())
            .map(|(n, line)| {
                serde_json::from_str(line)
                    .map_err(|e| format!("line {} of the anchor file: {e}", n + 1))
            })
            .collect()
    }
}

/// Checks entries in id order against each other, against the recorded head (count
/// and last hash) and against anchors written out of the database.
#[derive(Debug, Clone)]
pub struct ChainVerifier {
    previous_id: i64,
    previous_hash: String,
    sealing: Sealing,
    hasher: ChainHasher,
    /// Anchored hash (and when it was anchored) by entry id.
    anchored: BTreeMap<i64, (String, String)>,
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self::new(Sealing::default())
    }
}

impl ChainVerifier {
    /// From the first entry.
    pub fn new(sealing: Sealing) -> Self {
        Self {
            previous_id: 0,
            previous_hash: GENESIS_HASH.to_owned(),
            hasher: ChainHasher::new(&sealing),
            sealing,
            anchored: BTreeMap::new(),
        }
    }

    /// Carries on after entry `id` with `hash`, verified before.
    pub fn resume(mut self, id: i64, hash: &str) -> Self {
        self.previous_id = id;
        self.previous_hash = hash.to_owned();
        self
    }

    /// Also checks the entries these anchors name.
    pub fn with_anchors(mut self, anchors: &[AuditAnchor]) -> Self {
        for anchor in anchors.iter().filter(|a| a.count > 0) {
            self.anchored
                .insert(anchor.count, (anchor.hash.clone(), anchor.at.clone()));
        }
        self
    }

    /// The last entry verified (0 before any) and its hash.
    pub fn verified(&self) -> (i64, &str) {
        (self.previous_id, &self.previous_hash)
    }

    pub fn check(&mut self, entry: &AuditEntry) -> Result<(), ChainBreak> {
        if entry.id != self.previous_id + 1 {
            return Err(ChainBreak::Missing {
                expected: self.previous_id + 1,
                previous: self.previous_id,
                found: entry.id,
            });
        }
        if !self.hasher.matches(&self.sealing, entry)? {
            return Err(ChainBreak::Altered { id: entry.id });
        }
        if entry.prev_hash != self.previous_hash {
            return Err(ChainBreak::Unlinked {
                id: entry.id,
                previous: self.previous_id,
            });
        }
        if let Some((hash, at)) = self.anchored.get(&entry.id)
            && *hash != entry.hash
        {
            return Err(ChainBreak::AnchorMismatch {
                id: entry.id,
                anchored_at: at.clone(),
            });
        }
        self.previous_id = entry.id;
        self.previous_hash.clear();
        self.previous_hash.push_str(&entry.hash);
        Ok(())
    }

    /// After the last entry: the log must be as long as its recorded head says, and at
    /// least as long as any anchor says.
    pub fn finish(&self, recorded_count: i64, recorded_last_hash: &str) -> Result<i64, ChainBreak> {
        if recorded_count > self.previous_id {
            return Err(ChainBreak::Truncated {
                expected: self.previous_id + 1,
                recorded: recorded_count,
            });
        }
        if recorded_count < self.previous_id {
            // The head was moved back over entries that are still there.
            return Err(ChainBreak::PastHead {
                id: recorded_count + 1,
                recorded: recorded_count,
            });
        }
        if recorded_last_hash != self.previous_hash {
            return Err(ChainBreak::Altered {
                id: self.previous_id,
            });
        }
        if let Some((&anchored, (_, at))) = self.anchored.last_key_value()
            && anchored > self.previous_id
        {
            return Err(ChainBreak::BehindAnchor {
                expected: self.previous_id + 1,
                count: self.previous_id,
                anchored,
                anchored_at: at.clone(),
            });
        }
        Ok(self.previous_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_without_an_account_keep_their_canonical_form_and_accounts_are_covered() {
        let record = AuditRecord {
            actor: "ada".into(),
            action: "auth.sign_in".into(),
            outcome: "success".into(),
            ..Default::default()
        };
        // The form entries had before accounts: fourteen fields.
        assert_eq!(
            AuditEntry::canonical(7, "2026-11-30T00:00:00.000Z", &record),
            r#"[7,"2026-11-30T00:00:00.000Z","ada",null,null,null,"auth.sign_in",null,null,null,null,"success",null,null]"#
        );
        let with_account = AuditRecord {
            account: Some("prod".into()),
            account_id: Some("111111111111".into()),
            ..record.clone()
        };
        let canonical = AuditEntry::canonical(7, "2026-11-30T00:00:00.000Z", &with_account);
        assert!(
            canonical.ends_with(r#","prod","111111111111",null]"#),
            "{canonical}"
        );
        let moved = AuditRecord {
            account: Some("staging".into()),
            ..with_account.clone()
        };
        assert_ne!(
            AuditEntry::compute_hash("h", 7, "t", &with_account),
            AuditEntry::compute_hash("h", 7, "t", &moved)
        );
    }

    /// The canonical form as it was first written, through `serde_json::Value`: the
    /// streamed writer must give the same bytes, so existing chains keep verifying.
    fn canonical_by_values(id: i64, at: &str, r: &AuditRecord) -> String {
        let mut fields = vec![
            serde_json::json!(id),
            serde_json::json!(at),
            serde_json::json!(r.actor),
            serde_json::json!(r.role),
            serde_json::json!(r.source_ip),
            serde_json::json!(r.user_agent),
            serde_json::json!(r.action),
            serde_json::json!(r.pool_id),
            serde_json::json!(r.domain),
            serde_json::json!(r.old_certificate_arn),
            serde_json::json!(r.new_certificate_arn),
            serde_json::json!(r.outcome),
            serde_json::json!(r.detail),
            serde_json::json!(r.aws_request_id),
        ];
        if r.account.is_some() || r.account_id.is_some() || r.assumed_role.is_some() {
            fields.extend([
                serde_json::json!(r.account),
                serde_json::json!(r.account_id),
                serde_json::json!(r.assumed_role),
            ]);
        }
        serde_json::Value::Array(fields).to_string()
    }

    #[test]
    fn the_streamed_canonical_form_is_the_one_chains_were_sealed_with() {
        let awkward = "quote \" back\\slash \u{1} tab\t nl\n é 漢 \u{2028} </script> 🦀";
        let records = [
            AuditRecord::default(),
            AuditRecord {
                actor: awkward.into(),
                role: Some("admin".into()),
                source_ip: Some("::1".into()),
                user_agent: Some(awkward.into()),
                action: AuditAction::Other(awkward.into()),
                pool_id: Some("us-east-1_abc".into()),
                domain: None,
                old_certificate_arn: Some(String::new()),
                new_certificate_arn: None,
                outcome: "success".into(),
                detail: Some(awkward.into()),
                aws_request_id: None,
                account: None,
                account_id: Some("123456789012".into()),
                assumed_role: None,
            },
            AuditRecord {
                action: AuditAction::CertificateUpdateSucceeded,
                account: Some("prod".into()),
                ..AuditRecord::default()
            },
        ];
        for (i, record) in records.iter().enumerate() {
            for id in [1, i64::MAX, -5, i as i64] {
                let at = "2026-11-30T08:00:00.000Z";
                assert_eq!(
                    AuditEntry::canonical(id, at, record),
                    canonical_by_values(id, at, record)
                );
                let key = key("0123456789abcdef0123456789abcdef-canonical");
                let keyed = AuditEntry::seal_keyed(&key, id, at.into(), record.clone(), "p".into());
                let sealing = Sealing {
                    key: Some(key.clone()),
                    keyed_from: Some(1),
                };
                let mut hasher = ChainHasher::new(&sealing);
                assert_eq!(hasher.matches(&sealing, &keyed), Ok(id >= 1));
            }
        }
    }

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

    fn keyed_chain(key: &AuditKey, keyed_from: i64, n: i64) -> Vec<AuditEntry> {
        let mut entries = chain(keyed_from - 1);
        let mut previous = entries
            .last()
            .map_or(GENESIS_HASH.to_owned(), |e| e.hash.clone());
        for id in keyed_from..=n {
            let record = AuditRecord {
                actor: format!("user{id}"),
                action: "auth.sign_in".into(),
                outcome: "success".into(),
                ..Default::default()
            };
            let entry = AuditEntry::seal_keyed(
                key,
                id,
                format!("2026-11-29T10:00:{id:02}.000Z"),
                record,
                previous.clone(),
            );
            previous = entry.hash.clone();
            entries.push(entry);
        }
        entries
    }

    fn key(text: &str) -> AuditKey {
        AuditKey::parse(text).unwrap()
    }

    #[test]
    fn keyed_entries_need_the_key_and_key_less_ones_keep_verifying() {
        let real = key("the-real-audit-key-0123456789abcdef");
        let entries = keyed_chain(&real, 3, 6);
        let last = entries[5].hash.clone();
        let sealing = |k: Option<&AuditKey>| Sealing {
            key: k.cloned(),
            keyed_from: Some(3),
        };
        let run = |verifier: ChainVerifier, entries: &[AuditEntry]| {
            let mut verifier = verifier;
            for e in entries {
                verifier.check(e)?;
            }
            verifier.finish(6, &last)
        };
        assert_eq!(
            run(ChainVerifier::new(sealing(Some(&real))), &entries),
            Ok(6)
        );
        // Another key, or none, stops at the first keyed entry.
        let other = key("another-audit-key-0123456789abcdef");
        assert_eq!(
            run(ChainVerifier::new(sealing(Some(&other))), &entries),
            Err(ChainBreak::Altered { id: 3 })
        );
        assert_eq!(
            run(ChainVerifier::new(sealing(None)), &entries),
            Err(ChainBreak::KeyMissing { keyed_from: 3 })
        );
        // Re-sealed the key-less way from entry 4 on: entry 4 is caught.
        let mut forged = entries.clone();
        forged[3].record.actor = "mallory".into();
        let mut previous = forged[2].hash.clone();
        for e in forged.iter_mut().skip(3) {
            *e = AuditEntry::seal(e.id, e.at.clone(), e.record.clone(), previous.clone());
            previous = e.hash.clone();
        }
        assert_eq!(
            run(ChainVerifier::new(sealing(Some(&real))), &forged),
            Err(ChainBreak::Altered { id: 4 })
        );
        // Carrying on from a verified entry checks only the later ones.
        let resumed = ChainVerifier::new(sealing(Some(&real))).resume(4, &entries[3].hash);
        assert_eq!(run(resumed, &entries[4..]), Ok(6));
        assert_ne!(real.check_value(), other.check_value());
        assert_ne!(real.switch_value(3), real.switch_value(4));
        assert!(!format!("{real:?}").contains("real-audit-key"));
        assert!(AuditKey::parse("too short").is_err());
    }

    #[test]
    fn anchors_catch_a_cut_tail_and_a_rechained_log() {
        let entries = chain(6);
        let anchors = [AuditAnchor {
            count: 6,
            hash: entries[5].hash.clone(),
            at: "2026-11-29T10:01:00.000Z".into(),
        }];
        let mut verifier = ChainVerifier::default().with_anchors(&anchors);
        for e in &entries[..4] {
            verifier.check(e).unwrap();
        }
        assert!(matches!(
            verifier.finish(4, &entries[3].hash),
            Err(ChainBreak::BehindAnchor {
                expected: 5,
                count: 4,
                anchored: 6,
                ..
            })
        ));
        let mut rechained = entries.clone();
        rechained[5] = AuditEntry::seal(
            6,
            rechained[5].at.clone(),
            AuditRecord {
                actor: "mallory".into(),
                ..rechained[5].record.clone()
            },
            rechained[4].hash.clone(),
        );
        let mut verifier = ChainVerifier::default().with_anchors(&anchors);
        let broken = rechained.iter().try_for_each(|e| verifier.check(e));
        assert!(matches!(
            broken,
            Err(ChainBreak::AnchorMismatch { id: 6, .. })
        ));
        let text = anchors
            .iter()
            .map(|a| serde_json::to_string(a).unwrap() + "\n")
            .collect::<String>();
        assert_eq!(AuditAnchor::parse_lines(&text).unwrap(), anchors);
        assert!(AuditAnchor::parse_lines("{not json").is_err());
    }

    #[test]
    fn every_audit_action_round_trips_through_its_text() {
        let known: Vec<AuditAction> = AuditAction::known().collect();
        assert_eq!(
            known.len(),
            25 + crate::domain::propagation::Phase::ALL.len()
        );
        let texts: std::collections::HashSet<&str> =
            known.iter().map(AuditAction::as_str).collect();
        assert_eq!(texts.len(), known.len(), "every action has its own text");
        for action in known {
            let text = action.to_string();
            assert_eq!(text, action.as_str());
            assert_eq!(text.parse::<AuditAction>(), Ok(action.clone()), "{text}");
            assert_eq!(AuditAction::from(text.clone()), action, "{text}");
            assert!(!matches!(
                AuditAction::from(text.as_str()),
                AuditAction::Other(_)
            ));
            let json = serde_json::to_string(&action).unwrap();
            assert_eq!(json, format!("\"{text}\""));
            assert_eq!(serde_json::from_str::<AuditAction>(&json).unwrap(), action);
        }
        // The stored texts never change: the chain's hashes cover them.
        assert_eq!(AuditAction::SignIn.as_str(), "auth.sign_in");
        assert_eq!(
            AuditAction::CertificateUpdateRequested.as_str(),
            "certificate.update.requested"
        );
        assert_eq!(
            AuditAction::Propagation(crate::domain::propagation::Phase::TimedOut).as_str(),
            "propagation.timed_out"
        );
        // Text certdeck does not write is kept as it was read.
        let other = AuditAction::from("test.export");
        assert_eq!(other, AuditAction::Other("test.export".into()));
        assert_eq!(other.as_str(), "test.export");
    }
}
