#!/usr/bin/env bash
# The Docker Compose deployment, tested offline (no image registry reachable):
#   1. start dockerd when it is not running;
#   2. build a Debian base image with debootstrap (once: kept as
#      streamly-test/bookworm), Postgres and Redis images from Debian packages
#      on it, and the runtime image (Dockerfile, target runtime-prebuilt) from
#      the release binary built on the host;
#   3. `docker-compose -f compose.yaml -f tests/docker/compose.offline.yaml up`
#      (host networking, every server on loopback on its own port);
#   4. the user flow: register on api, create a stream, ffmpeg publishes to the
#      ingest container, ffprobe plays its HLS, api shows the stream live, the
#      rows are in the container's Postgres, every /health answers ok, the
#      stream goes offline when the publisher stops;
#   5. `docker-compose down -v`.
# Exit status: 0 passed, 77 dockerd cannot run on this machine (the reason is
# printed), anything else failed (the reason and the services' logs printed).
#
# Variables: DOCKERTEST_{PG,REDIS,API,INGEST,CHAT,RTMP}_PORT (defaults 15432,
# 16379, 18080, 18000, 18084, 11935), STREAMLY_DOCKERTEST_SKIP_CARGO=1 (use the
# existing target/release/streamly), STREAMLY_DOCKERTEST_BINARY=path (that
# binary instead; no cargo build), STREAMLY_DOCKERTEST_REBUILD_BASE=1.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"

t0=$SECONDS
step_t=$SECONDS
say() { printf '[docker-test %3ds] %s\n' "$((SECONDS - t0))" "$*"; }
lap() { say "$1 ($((SECONDS - step_t)) s)"; step_t=$SECONDS; }
fail() {
  printf '[docker-test] FAIL: %s\n' "$*" >&2
  exit 1
}

export DOCKERTEST_PG_PORT="${DOCKERTEST_PG_PORT:-15432}"
export DOCKERTEST_REDIS_PORT="${DOCKERTEST_REDIS_PORT:-16379}"
export DOCKERTEST_API_PORT="${DOCKERTEST_API_PORT:-18080}"
export DOCKERTEST_INGEST_PORT="${DOCKERTEST_INGEST_PORT:-18000}"
export DOCKERTEST_CHAT_PORT="${DOCKERTEST_CHAT_PORT:-18084}"
export DOCKERTEST_RTMP_PORT="${DOCKERTEST_RTMP_PORT:-11935}"
BASE_IMAGE=streamly-test/bookworm
PROJECT=streamly-dockertest

# --- tools -------------------------------------------------------------------
missing=()
command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
command -v docker-compose >/dev/null 2>&1 || missing+=(docker-compose)
command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
command -v ffprobe >/dev/null 2>&1 || missing+=(ffmpeg)
command -v curl >/dev/null 2>&1 || missing+=(curl)
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq "${missing[@]}" >/dev/null ||
    fail "could not install ${missing[*]} with apt"
fi
# Debian's client (docker.io) builds with BuildKit without the buildx plugin;
# another `docker` earlier in PATH may not.
DOCKER=docker
[ -x /usr/bin/docker ] && DOCKER=/usr/bin/docker

# --- dockerd -----------------------------------------------------------------
started_dockerd=""
if ! "$DOCKER" info >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "[docker-test] SKIP: dockerd is not running and starting it needs root"
    exit 77
  fi
  say "starting dockerd (log: /tmp/dockerd.log)"
  dockerd >/tmp/dockerd.log 2>&1 &
  started_dockerd=$!
  for _ in $(seq 1 60); do
    "$DOCKER" info >/dev/null 2>&1 && break
    kill -0 "$started_dockerd" 2>/dev/null || break
    sleep 0.5
  done
  if ! "$DOCKER" info >/dev/null 2>&1; then
    echo "[docker-test] SKIP: dockerd cannot run here:"
    tail -n 5 /tmp/dockerd.log | sed 's/^/    /'
    kill "$started_dockerd" 2>/dev/null || true
    exit 77
  fi
fi
lap "dockerd up: $("$DOCKER" version -f 'engine {{.Server.Version}}' 2>/dev/null)"

# Temporary files (the merged compose file holds the generated secrets).
work="$(mktemp -d)"
chmod 700 "$work"
stack="$work/stack.yaml"
compose() { docker-compose -p "$PROJECT" --project-directory "$ROOT" -f "$stack" "$@"; }
ffmpeg_pid=""
passed=""
cleanup() {
  local rc=$?
  [ -n "$ffmpeg_pid" ] && { kill "$ffmpeg_pid" 2>/dev/null || true; }
  if [ -z "$passed" ] && [ -f "$stack" ]; then
    echo "[docker-test] services at the failure:" >&2
    compose ps >&2 || true
    compose logs --no-color --tail 40 >&2 || true
    [ -s "$work/ffmpeg.log" ] && { echo "[docker-test] ffmpeg:" >&2; tail -n 20 "$work/ffmpeg.log" >&2; }
  fi
  [ -f "$stack" ] && { compose down -v --remove-orphans >/dev/null 2>&1 || true; }
  rm -rf "$work"
  if [ -n "$started_dockerd" ]; then
    kill "$started_dockerd" 2>/dev/null || true
    wait "$started_dockerd" 2>/dev/null || true
  fi
  exit "$rc"
}
trap cleanup EXIT

# --- images ------------------------------------------------------------------
# The Debian mirror apt uses on this machine (deb822 or one-line sources).
debian_mirror() {
  local m
  m="$(grep -hsE '^\s*URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null |
    awk '{print $2}' | grep -E '/debian/?$' | head -n1)"
  [ -n "$m" ] || m="$(grep -hsE '^\s*deb\s' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '{print $2}' | grep -E '/debian/?$' | head -n1)"
  echo "${m:-http://deb.debian.org/debian}"
}
if [ -n "${STREAMLY_DOCKERTEST_REBUILD_BASE:-}" ] || ! "$DOCKER" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  mirror="$(debian_mirror)"
  rootfs="$(mktemp -d /var/tmp/streamly-bookworm.XXXXXX)"
  say "debootstrap --variant=minbase bookworm from $mirror (once; kept as $BASE_IMAGE)"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >/tmp/streamly-debootstrap.log 2>&1 ||
    { tail -n 20 /tmp/streamly-debootstrap.log; rm -rf "$rootfs"; fail "debootstrap failed"; }
  # As in Debian's official images: no service starts inside a build.
  printf '#!/bin/sh\nexit 101\n' >"$rootfs/usr/sbin/policy-rc.d"
  chmod +x "$rootfs/usr/sbin/policy-rc.d"
  chroot "$rootfs" apt-get clean
  rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/log/*.log
  tar -C "$rootfs" -c . | "$DOCKER" import - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
  lap "base image $BASE_IMAGE built"
else
  lap "base image $BASE_IMAGE cached"
fi

build() { # tag, dockerfile, context, extra args...
  local tag="$1" file="$2" ctx="$3"
  shift 3
  DOCKER_BUILDKIT=1 "$DOCKER" build --network host -q -t "$tag" -f "$file" "$@" "$ctx" >/tmp/streamly-docker-build.log 2>&1 ||
    { tail -n 30 /tmp/streamly-docker-build.log; fail "docker build of $tag failed"; }
}
build streamly-test/postgres tests/docker/postgres.Dockerfile tests/docker --build-arg "BASE_IMAGE=$BASE_IMAGE"
build streamly-test/redis tests/docker/redis.Dockerfile tests/docker --build-arg "BASE_IMAGE=$BASE_IMAGE"
lap "postgres and redis images built"

bin="${STREAMLY_DOCKERTEST_BINARY:-${CARGO_TARGET_DIR:-target}/release/streamly}"
if [ -z "${STREAMLY_DOCKERTEST_SKIP_CARGO:-}" ] && [ -z "${STREAMLY_DOCKERTEST_BINARY:-}" ]; then
  cargo build -q --release --locked --bin streamly || fail "cargo build --release --bin streamly failed"
fi
[ -x "$bin" ] || fail "no release binary at $bin"
lap "release binary ready ($bin)"
# Only the binary in the build context (target/ is in .dockerignore).
ctx="$work/context"
mkdir -p "$ctx/target/release"
cp "$bin" "$ctx/target/release/streamly"
build streamly-test/streamly Dockerfile "$ctx" --target runtime-prebuilt --build-arg "RUNTIME_IMAGE=$BASE_IMAGE"
rm -rf "$ctx"
lap "runtime image streamly-test/streamly built (Dockerfile, target runtime-prebuilt)"

# --- the stack ---------------------------------------------------------------
for port in "$DOCKERTEST_PG_PORT" "$DOCKERTEST_REDIS_PORT" "$DOCKERTEST_API_PORT" \
  "$DOCKERTEST_INGEST_PORT" "$DOCKERTEST_CHAT_PORT" "$DOCKERTEST_RTMP_PORT"; do
  python3 -c 'import socket, sys; s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1", int(sys.argv[1])))' "$port" 2>/dev/null ||
    fail "port $port on 127.0.0.1 is taken (set DOCKERTEST_*_PORT)"
done

rand() { head -c 64 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c "$1"; }
export POSTGRES_PASSWORD="pg$(rand 24)"
export STREAMLY_JWT_SECRET="jwt-$(rand 48)"
export STREAMLY_INTERNAL_SECRET="internal-$(rand 24)"
export RUST_LOG=info
# compose.yaml merged with the override by docker-compose itself; then the
# `ports:` of the services on the host network are dropped (docker-compose 1.29
# refuses port bindings with network_mode: host instead of ignoring them).
docker-compose -p "$PROJECT" -f compose.yaml -f tests/docker/compose.offline.yaml config >"$work/merged.yaml" ||
  fail "docker-compose config rejected compose.yaml + tests/docker/compose.offline.yaml"
python3 - "$work/merged.yaml" "$stack" <<'PY'
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
for svc in doc["services"].values():
    if svc.get("network_mode") == "host":
        svc.pop("ports", None)
yaml.safe_dump(doc, open(sys.argv[2], "w"), sort_keys=False)
PY
compose down -v --remove-orphans >/dev/null 2>&1 || true

say "docker-compose up (project $PROJECT)"
compose up -d --no-build >"$work/up.log" 2>&1 || { cat "$work/up.log"; fail "docker-compose up failed"; }

health_of() { "$DOCKER" inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}' "$(compose ps -q "$1")" 2>/dev/null || echo missing; }
for svc in postgres redis api ingest chat; do
  for _ in $(seq 1 90); do
    h="$(health_of "$svc")"
    [ "$h" = healthy ] && break
    [ "$h" = unhealthy ] && fail "$svc is unhealthy"
    sleep 1
  done
  [ "$h" = healthy ] || fail "$svc not healthy after 90 s (last: $h)"
done
lap "all five services healthy"

API="http://127.0.0.1:$DOCKERTEST_API_PORT"
INGEST="http://127.0.0.1:$DOCKERTEST_INGEST_PORT"
CHAT="http://127.0.0.1:$DOCKERTEST_CHAT_PORT"
json() { python3 -c 'import json, sys; v = json.load(sys.stdin)
for k in sys.argv[1].split("."): v = v[k]
print(json.dumps(v) if isinstance(v, bool) else v)' "$1"; }

for pair in "api $API" "ingest $INGEST" "chat $CHAT"; do
  set -- $pair
  body="$(curl -fsS "$2/health")" || fail "GET $2/health ($1) failed"
  [ "$(json status <<<"$body")" = ok ] || fail "$1 /health is not ok: $body"
  curl -fsS "$2/metrics" | grep -q '^streamly_' || fail "$1 /metrics has no streamly_ series"
done
uid="$(compose exec -T api id -u | tr -d '\r')"
[ "$uid" != 0 ] || fail "the api container runs as root"
say "/health ok and /metrics served on api, ingest, chat; streamly runs as uid $uid"

user="docker$(rand 8)"
reg="$(curl -fsS -H 'content-type: application/json' \
  -d "{\"username\":\"$user\",\"email\":\"$user@example.com\",\"password\":\"correct horse battery\"}" \
  "$API/api/auth/register")" || fail "POST /api/auth/register failed"
token="$(json token <<<"$reg")"
stream="$(curl -fsS -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d '{"title":"docker compose test"}' "$API/api/streams")" || fail "POST /api/streams failed"
id="$(json id <<<"$stream")"
key="$(json stream_key <<<"$stream")"
rtmp_url="$(json rtmp_url <<<"$stream")"
say "registered $user, created stream $id (rtmp_url $rtmp_url)"
rows="$(compose exec -T postgres psql -U streamly -d streamly -Atc "select count(*) from streams where id::text = '$id'" | tr -d '\r')"
[ "$rows" = 1 ] || fail "stream $id is not in the postgres container's database (got '$rows')"

ffmpeg -nostdin -hide_banner -loglevel error -re -stream_loop -1 -i testdata/av.flv -c copy -f flv \
  "rtmp://127.0.0.1:$DOCKERTEST_RTMP_PORT/live/$key" </dev/null >"$work/ffmpeg.log" 2>&1 &
ffmpeg_pid=$!

live=""
for _ in $(seq 1 40); do
  kill -0 "$ffmpeg_pid" 2>/dev/null || fail "ffmpeg exited: the publish was refused or dropped"
  live="$(curl -fsS "$API/api/streams/$id" | json live)" || true
  [ "$live" = true ] && break
  sleep 0.5
done
[ "$live" = true ] || fail "GET /api/streams/$id never showed live: true"
say "api shows the stream live"

playlist="$INGEST/hls/$id/index.m3u8"
# Until the playlist lists two whole segments (before, a player has nothing to read).
segments=0
for _ in $(seq 1 60); do
  segments="$(curl -fsS "$playlist" 2>/dev/null | grep -c '^#EXTINF' || true)"
  [ "${segments:-0}" -ge 2 ] && break
  sleep 0.5
done
[ "${segments:-0}" -ge 2 ] || fail "no playlist with segments at $playlist after 30 s"
streams="$(timeout 60 ffprobe -v error -show_entries stream=codec_type,codec_name -of csv=p=0 "$playlist" | sed 's/,*$//' | grep . | sort -u | tr '\n' ' ')" ||
  fail "ffprobe could not read $playlist"
case "$streams" in
  *aac,audio*h264,video*) ;;
  *) fail "ffprobe found '$streams' in $playlist, expected h264 video and aac audio" ;;
esac
say "ffprobe read $playlist: $streams"

leases="$(compose exec -T redis redis-cli -p "$DOCKERTEST_REDIS_PORT" --scan | tr -d '\r' | grep -c "$id" || true)"
[ "$leases" -ge 1 ] || fail "no key naming stream $id in the redis container (origin lease)"
say "the redis container holds the stream's origin lease"

kill "$ffmpeg_pid" 2>/dev/null || true
wait "$ffmpeg_pid" 2>/dev/null || true
ffmpeg_pid=""
for _ in $(seq 1 40); do
  live="$(curl -fsS "$API/api/streams/$id" | json live)" || true
  [ "$live" = false ] && break
  sleep 0.5
done
[ "$live" = false ] || fail "the stream stayed live after the publisher stopped"
say "the stream went offline when ffmpeg stopped"

passed=1
lap "user flow passed"
say "PASSED in $((SECONDS - t0)) s"
