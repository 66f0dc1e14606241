-- The keyed audit chain (PRODUCT.md section 6). Entries from keyed_from on are sealed
-- with HMAC-SHA-256 under the audit key, which the database never holds, and earlier ones
-- keep the key-less SHA-256 form. key_check (an HMAC of a fixed label) tells a wrong key
-- apart from a changed entry, and keyed_from_mac seals the switch point so that moving it
-- needs the key. All three stay NULL until a console with a key first opens the log.
ALTER TABLE audit_head ADD COLUMN keyed_from BIGINT;
ALTER TABLE audit_head ADD COLUMN key_check TEXT;
ALTER TABLE audit_head ADD COLUMN keyed_from_mac TEXT
