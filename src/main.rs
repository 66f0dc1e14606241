use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    certdeck::telemetry::init();
    let cli = certdeck::cli::Cli::parse();
    certdeck::cli::run(cli).await
}
