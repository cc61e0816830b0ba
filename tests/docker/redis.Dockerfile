# Redis from Debian's package, for the offline Docker test (no registry here to
# pull the official image from). Data in /data, like the official image.
ARG BASE_IMAGE=streamly-test/bookworm
FROM ${BASE_IMAGE}
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server \
 && rm -rf /var/lib/apt/lists/* \
 && install -d -o redis -g redis -m 0750 /data
VOLUME ["/data"]
WORKDIR /data
USER redis
EXPOSE 6379
CMD ["redis-server", "--protected-mode", "no"]
