//! certdeck: rotate the TLS certificate of Cognito user-pool custom domains, safely.

pub mod auth;
pub mod aws;
pub mod cli;
pub mod configuration;
pub mod domain;
pub mod inventory;
pub mod propagation;
pub mod routes;
pub mod sandbox;
pub mod startup;
pub mod state;
pub mod store;
pub mod supervisor;
pub mod telemetry;
pub mod tokens;
