//! Integration tests: everything through HTTP, with the real AWS SDK against the
//! sandbox (and, where it supports the operation, moto).

mod access;
mod accounts;
mod api2026;
mod api_tokens;
mod api_v1;
mod approval;
mod architecture;
mod audit_log;
mod browser;
mod certificate_change;
mod console;
mod container;
mod demo;
mod errors;
mod hardening;
mod harness;
mod helpers;
mod hostile;
mod moto;
mod oidc;
mod preflight;
mod propagation;
mod replicas;
mod rollback;
mod sandbox_accounts;
mod sandbox_cli;
mod sandbox_edge;
mod sandbox_limits;
mod sandbox_operations;
mod sandbox_oracle;
mod sandbox_rules;
mod sandbox_wire;
mod store;
mod supervision;
