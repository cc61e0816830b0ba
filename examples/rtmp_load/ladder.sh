#!/usr/bin/env bash
# The ingest ladder of issue 12: rtmp_load against Streamly's rtmp_to_hls,
# nginx-rtmp (one worker, hls on) and the floor server (rtmp_load
# --serve-floor: read and write to disk, nothing else), alternating, one run
# per rung and server. SERVERS="streamly nginx_rtmp floor" picks some.
#
#   cargo build --release --example rtmp_to_hls --example rtmp_load
#   examples/rtmp_load/ladder.sh "100 500 1000 2000 5000" 45
#
# Needs /tmp/load360.flv (the ffmpeg command in main.rs, -t 120) and the
# Debian packages nginx and libnginx-mod-rtmp. Everything goes under
# $WORK (default /tmp/rtmp_ladder); segments are written to disk by both.
set -euo pipefail
RUNGS=${1:-"100 500 1000 2000"}
DURATION=${2:-45}
FLV=${FLV:-/tmp/load360.flv}
WORK=${WORK:-/tmp/rtmp_ladder}
BIN=${BIN:-target/release/examples}
ulimit -n "$(ulimit -Hn)"
mkdir -p "$WORK"

keys() { # STREAMLY_STREAM_KEYS for publishers 1..N: s1=k1,s2=k2,...
  seq 1 "$1" | sed 's/.*/s&=k&/' | paste -sd, -
}

load() { # load NAME N URL [--server-pid P ...]: one run of rtmp_load
  local name=$1 n=$2 url=$3
  shift 3
  echo "== $name $n"
  # shellcheck disable=SC2086 # word splitting of $LOAD_ARGS is wanted
  "$BIN/rtmp_load" --url "$url" --key-prefix k --publishers "$n" \
    --duration "$DURATION" --flv "$FLV" ${LOAD_ARGS:-} "$@" || true
}

streamly() {
  local n=$1
  rm -rf "$WORK/streamly" && mkdir -p "$WORK/streamly"
  STREAMLY_STREAM_KEYS=$(keys "$n") STREAMLY_SEGMENT_DIR="$WORK/streamly" \
    STREAMLY_RTMP_ADDR=127.0.0.1:11935 STREAMLY_HTTP_ADDR=127.0.0.1:18000 RUST_LOG=warn \
    "$BIN/rtmp_to_hls" 2>"$WORK/streamly.log" &
  local pid=$!
  sleep 1
  load streamly "$n" rtmp://127.0.0.1:11935/live --server-pid "$pid"
  kill "$pid"; wait "$pid" || true
}

nginx_rtmp() {
  local n=$1
  rm -rf "$WORK/nginx" && mkdir -p "$WORK/nginx/hls" && chmod 777 "$WORK/nginx/hls"
  cat >"$WORK/nginx/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
worker_processes 1;
worker_rlimit_nofile 65536;
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 20000; }
rtmp {
  server {
    listen 127.0.0.1:11936;
    chunk_size 4096;
    application live {
      live on;
      hls on;
      hls_path $WORK/nginx/hls;
      hls_fragment 2s;
      hls_playlist_length 20s;
    }
  }
}
CONF
  nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx" 2>>"$WORK/nginx/error.log" &
  local master=$!
  sleep 1
  local workers
  workers=$(pgrep -P "$master" | sed 's/^/--server-pid /' | paste -sd' ' -)
  # shellcheck disable=SC2086 # word splitting of $workers is wanted
  load nginx-rtmp "$n" rtmp://127.0.0.1:11936/live $workers
  kill -QUIT "$master"; wait "$master" || true
}

floor() {
  local n=$1
  rm -rf "$WORK/floor"
  "$BIN/rtmp_load" --serve-floor 127.0.0.1:11937 --floor-dir "$WORK/floor" >"$WORK/floor.log" 2>&1 &
  local pid=$!
  sleep 1
  load floor "$n" rtmp://127.0.0.1:11937/live --server-pid "$pid"
  kill "$pid"; wait "$pid" || true
}

for n in $RUNGS; do
  for server in ${SERVERS:-streamly nginx_rtmp floor}; do
    "$server" "$n"
  done
done
