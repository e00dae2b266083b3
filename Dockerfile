# Boardroom server image: built with the Rust toolchain, run on Debian slim.
#   docker build -t boardroom .
#   docker run -p 8080:8080 -v boardroom-data:/data boardroom
#       # alone, embedded SQLite under /data, production mode: no demo, a signing secret
#       # generated on the first start and kept in /data/jwt_secret. Make the first org with
#       #   docker exec <container> boardroom create-org --name … --owner-email … --owner-password …
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
# Production mode on purpose (reachable from other machines: never the demo's published
# logins, never the debug endpoints). tests/security_edge.rs runs the binary with these.
ENV BOARDROOM_LISTEN=0.0.0.0:8080 \
    BOARDROOM_DATA_DIR=/data \
    BOARDROOM_DEV_MODE=false
EXPOSE 8080
ENTRYPOINT ["boardroom"]
CMD ["serve"]
