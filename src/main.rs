use clap::Parser;

/// mimalloc rather than glibc's malloc: an inventory refresh of thousands of pools
/// allocates and frees tens of megabytes, which glibc's arenas kept resident (RSS grew
/// over refreshes); mimalloc returns freed pages to the system.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    certdeck::telemetry::init(certdeck::telemetry::LogFormat::from_env()?);
    let cli = certdeck::cli::Cli::parse();
    certdeck::cli::run(cli).await
}
