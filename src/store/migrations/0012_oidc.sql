-- Accounts made by single sign-on (PRODUCT.md §10) keep the provider's issuer and the
-- subject it names them by: a local account of the same name is never taken over.
ALTER TABLE users ADD COLUMN oidc_issuer TEXT;
ALTER TABLE users ADD COLUMN oidc_subject TEXT;
CREATE UNIQUE INDEX users_oidc_identity ON users (oidc_issuer, oidc_subject);
