//! Logging: `tracing` to stderr as text or JSON lines (`CERTDECK_LOG_FORMAT`), filtered
//! by `RUST_LOG` (default `info`). Each HTTP request runs in a span with its request id
//! (`tracing-actix-web`), so every line a request logs carries the id its error page
//! shows.

use tracing_subscriber::EnvFilter;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

impl LogFormat {
    /// `CERTDECK_LOG_FORMAT`: `text` (default) or `json`.
    pub fn from_env() -> anyhow::Result<Self> {
        match std::env::var("CERTDECK_LOG_FORMAT").ok().as_deref() {
            None | Some("" | "text") => Ok(LogFormat::Text),
            Some("json") => Ok(LogFormat::Json),
            Some(other) => {
                anyhow::bail!("CERTDECK_LOG_FORMAT must be text or json, not {other:?}")
            }
        }
    }
}

/// Installs the global subscriber once; later calls are no-ops. The AWS SDK's and
/// hyper's chatter stays at `warn` unless `RUST_LOG` asks for it; `aws_config`'s
/// credential chain and IMDS at `error`: their warnings are several hundred characters
/// for one missing credential, which certdeck reports itself in one line.
pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| {
        EnvFilter::new("info,aws_config=error,aws_smithy_runtime=warn,aws_runtime=warn,hyper=warn")
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
