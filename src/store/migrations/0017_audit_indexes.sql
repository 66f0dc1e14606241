-- The audit log at a million entries (issue 17): every filter of `/audit` reads an
-- index in id order (newest first, keyset pages), so a page reads ~50 rows, never the
-- log. actor, pool_id, action (0003) and account (0009) have theirs already.
CREATE INDEX audit_log_outcome ON audit_log (outcome, id);
CREATE INDEX audit_log_domain ON audit_log (domain, id);
