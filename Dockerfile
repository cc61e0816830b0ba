# Streamly: one image for every role (`streamly serve --role api|ingest|chat`).
#
#   docker build -t streamly .
#   docker run --rm -p 8080:8080 -p 1935:1935 -v streamly:/var/lib/streamly streamly
#
# Stages: `runtime-base` (Debian slim, a non-root user), `builder` (the official
# Rust image builds the release binary), `runtime` (the default: the binary on
# the runtime base) and `runtime-prebuilt` (a binary built on the host, from a
# build context holding only `target/release/streamly`; used where no registry
# is reachable, see tests/docker/run.sh). The base images are build arguments.
ARG BUILDER_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUNTIME_IMAGE} AS runtime-base
# curl only for the health check.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --gid 10001 streamly \
 && useradd --uid 10001 --gid streamly --no-create-home --home-dir /var/lib/streamly --shell /usr/sbin/nologin streamly \
 && install -d -o streamly -g streamly -m 0750 /var/lib/streamly /var/lib/streamly/segments
WORKDIR /var/lib/streamly
# The SQLite file (single node), the generated JWT secret, persisted segments.
VOLUME ["/var/lib/streamly"]
ENV STREAMLY_HTTP_ADDR=0.0.0.0:8080 \
    STREAMLY_RTMP_ADDR=0.0.0.0:1935
EXPOSE 8080 1935
# The port is the one of STREAMLY_HTTP_ADDR, so the same check serves every role.
HEALTHCHECK --interval=5s --timeout=5s --start-period=30s --retries=3 \
  CMD curl -fsS -o /dev/null "http://127.0.0.1:${STREAMLY_HTTP_ADDR##*:}/health" || exit 1
USER streamly
ENTRYPOINT ["streamly"]
CMD ["serve"]

FROM ${BUILDER_IMAGE} AS builder
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin streamly \
 && cp target/release/streamly /usr/local/bin/streamly

FROM runtime-base AS runtime-prebuilt
COPY target/release/streamly /usr/local/bin/streamly

FROM runtime-base AS runtime
COPY --from=builder /usr/local/bin/streamly /usr/local/bin/streamly
