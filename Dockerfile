# Boardroom server image: built with the Rust toolchain, run on Debian slim.
#   docker build -t boardroom .
#   docker run -p 8080:8080 boardroom          # alone, embedded SQLite under /data, dev mode
# docker-compose.yml runs two of these as a cluster (Postgres, Redis, nginx in front).

FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
# The cache mounts keep the registry and build artifacts between builds (BuildKit).
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --bin boardroom \
    && cp target/release/boardroom /usr/local/bin/boardroom

FROM debian:bookworm-slim
RUN useradd --system --uid 10001 --home-dir /data --create-home boardroom
COPY --from=build /usr/local/bin/boardroom /usr/local/bin/boardroom
USER boardroom
WORKDIR /data
ENV BOARDROOM_LISTEN=0.0.0.0:8080 \
    BOARDROOM_DATA_DIR=/data
EXPOSE 8080
ENTRYPOINT ["boardroom"]
CMD ["serve"]
