//! certdeck: rotate the TLS certificate of Cognito user-pool custom domains, safely.

pub mod auth;
pub mod aws;
pub mod bulk;
pub mod change;
pub mod cli;
pub mod configuration;
pub mod domain;
pub mod healthcheck;
pub mod inventory;
pub mod metrics;
pub mod notify;
pub mod propagation;
pub mod routes;
/// The AWS-compatible sandbox, a crate of its own (`crates/certdeck-sandbox`) that never
/// depends on the console; re-exported for `certdeck demo` and `certdeck sandbox`.
#[cfg(feature = "sandbox")]
pub use certdeck_sandbox as sandbox;
pub mod startup;
pub mod state;
pub mod store;
pub mod supervisor;
pub mod telemetry;
pub mod tokens;
