//! certdeck: rotate the TLS certificate of Cognito user-pool custom domains, safely.

pub mod cli;
pub mod domain;
pub mod sandbox;
pub mod telemetry;
