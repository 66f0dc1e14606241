-- Several AWS accounts (PRODUCT.md §9): every audit entry and change names the account
-- (certdeck's name and the 12-digit id) and, for a change, the role session that made it.
ALTER TABLE audit_log ADD COLUMN account TEXT;
ALTER TABLE audit_log ADD COLUMN account_id TEXT;
ALTER TABLE audit_log ADD COLUMN assumed_role TEXT;
ALTER TABLE pending_changes ADD COLUMN account TEXT;
ALTER TABLE pending_changes ADD COLUMN account_id TEXT;
ALTER TABLE propagations ADD COLUMN account TEXT;
ALTER TABLE propagations ADD COLUMN account_id TEXT;
CREATE INDEX audit_log_by_account ON audit_log (account, id);
