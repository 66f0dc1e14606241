# certdeck: `certdeck serve` in a small image, as a non-root user.
# Build: docker build -t certdeck .   Run: docker run -p 8080:8080 -e CERTDECK_LISTEN=0.0.0.0:8080 certdeck

FROM rust:1.95-bookworm AS build
WORKDIR /src
RUN apt-get update && apt-get install -y --no-install-recommends pkg-config libssl-dev && rm -rf /var/lib/apt/lists/*
# Dependencies first, so that source edits do not rebuild them.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src tests/bench && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && echo "fn main() {}" > tests/bench/inventory.rs && cp tests/bench/inventory.rs tests/bench/audit_export.rs && touch tests/bench/common.rs \
    && cargo build --release --locked --bin certdeck \
    && rm -rf src tests
COPY src src
COPY templates templates
COPY static static
COPY tests/bench tests/bench
RUN touch src/main.rs src/lib.rs && cargo build --release --locked --bin certdeck

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
HEALTHCHECK --interval=30s --timeout=3s CMD ["/bin/sh", "-c", "exec 3<>/dev/tcp/127.0.0.1/8080 && printf 'GET /healthz HTTP/1.0\\r\\n\\r\\n' >&3 && grep -q ok <&3"]
ENTRYPOINT ["certdeck"]
CMD ["serve"]
