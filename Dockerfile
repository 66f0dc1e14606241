# certdeck: `certdeck serve` in a small image, as a non-root user.
# Build: docker build -t certdeck .
# Run:   docker run -p 8080:8080 -e CERTDECK_AUDIT_KEY_FILE=/run/secrets/audit-key \
#          -v "$PWD/audit-key:/run/secrets/audit-key:ro" certdeck
# (`certdeck serve` refuses to start without the audit key; see README.)

FROM rust:1.95-bookworm AS build
WORKDIR /src
# openssl is linked by the sandbox crate (`certdeck demo`, `certdeck sandbox`).
RUN apt-get update && apt-get install -y --no-install-recommends pkg-config libssl-dev && rm -rf /var/lib/apt/lists/*
# Dependencies first, so that source edits do not rebuild them: the workspace's
# manifests, with placeholder sources for every target they name.
COPY Cargo.toml Cargo.lock ./
COPY crates/certdeck-sandbox/Cargo.toml crates/certdeck-sandbox/Cargo.toml
COPY crates/certdeck-allocator/Cargo.toml crates/certdeck-allocator/Cargo.toml
# Every `[[bench]]` of Cargo.toml gets a placeholder: cargo refuses a manifest whose
# targets have no source.
RUN mkdir -p src benches crates/certdeck-sandbox/src crates/certdeck-allocator/src \
    && echo 'fn main() {}' > src/main.rs \
    && touch src/lib.rs crates/certdeck-sandbox/src/lib.rs crates/certdeck-allocator/src/lib.rs \
    && for bench in $(sed -n '/^\[\[bench\]\]/{n;s/^name = "\(.*\)"/\1/p}' Cargo.toml); do \
         echo 'fn main() {}' > "benches/$bench.rs"; done \
    && cargo build --release --locked --bin certdeck \
    && rm -rf src benches crates/certdeck-sandbox/src crates/certdeck-allocator/src
COPY src src
COPY templates templates
COPY static static
COPY benches benches
COPY crates crates
RUN touch src/main.rs src/lib.rs crates/certdeck-sandbox/src/lib.rs crates/certdeck-allocator/src/lib.rs \
    && cargo build --release --locked --bin certdeck

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --home-dir /var/lib/certdeck --create-home certdeck
COPY --from=build /src/target/release/certdeck /usr/local/bin/certdeck
USER certdeck
WORKDIR /var/lib/certdeck
ENV CERTDECK_LISTEN=0.0.0.0:8080 \
    CERTDECK_DATABASE_URL=sqlite:///var/lib/certdeck/certdeck.db
EXPOSE 8080
# No shell in the check: the binary GETs /healthz on CERTDECK_LISTEN itself.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s CMD ["certdeck", "healthcheck"]
ENTRYPOINT ["certdeck"]
CMD ["serve"]
