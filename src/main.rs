use clap::Parser;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    certdeck::telemetry::init(certdeck::telemetry::LogFormat::from_env()?);
    let cli = certdeck::cli::Cli::parse();
    certdeck::cli::run(cli).await
}
