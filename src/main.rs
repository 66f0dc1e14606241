use clap::Parser;

/// mimalloc rather than glibc's malloc: an inventory refresh of thousands of pools
/// allocates and frees tens of megabytes, which glibc's arenas kept resident (RSS grew
/// over refreshes); mimalloc returns freed pages to the system (`certdeck-allocator`).
#[global_allocator]
static ALLOCATOR: certdeck_allocator::MiMalloc = certdeck_allocator::MiMalloc;

/// The runtime's threads run the background work (inventory refreshes, edge sweeps,
/// notifications) at a lower priority; requests are served by actix's workers, which
/// `serve` starts from the main thread at the normal priority (issue 17: pages stay fast
/// while 10,000 pools are refreshed).
fn main() -> anyhow::Result<()> {
    // Before any thread starts (issue 17: what idle threads freed stayed resident).
    certdeck_allocator::purge_when_freed();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .on_thread_start(certdeck::supervisor::lower_this_threads_priority)
        .build()?
        .block_on(async {
            certdeck::telemetry::init(certdeck::telemetry::LogFormat::from_env()?);
            let cli = certdeck::cli::Cli::parse();
            certdeck::cli::run(cli).await
        })
}
