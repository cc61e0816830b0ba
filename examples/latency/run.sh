#!/usr/bin/env bash
# Glass-to-glass latency of Streamly's LL-HLS and TS playlists and of
# nginx-rtmp, in one run: starts examples/rtmp_to_hls (release) and an
# nginx with libnginx-mod-rtmp on their own loopback ports, runs
# examples/latency against the three, stops both. Arguments are passed on
# to the bench (e.g. --seconds 60).
set -euo pipefail
cd "$(dirname "$0")/../.."

hls_js="${STREAMLY_TEST_HLS_JS:-$(ls -d target/npm/hls.js-*/hls.min.js 2>/dev/null | tail -n1)}"
[ -f "$hls_js" ] || { echo "no hls.js: run .ci/run or set STREAMLY_TEST_HLS_JS" >&2; exit 1; }
if ! [ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ]; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx libnginx-mod-rtmp >/dev/null
fi
[ -n "${NO_BUILD:-}" ] || cargo build --release --example rtmp_to_hls --example latency

work="$(mktemp -d)"
chmod 755 "$work"; mkdir -m 777 "$work/hls"
trap 'kill $streamly_pid 2>/dev/null || true; [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true; sleep 1; rm -rf "$work"' EXIT

STREAMLY_STREAM_KEYS=demo=secret1 STREAMLY_RTMP_ADDR=127.0.0.1:19350 STREAMLY_HTTP_ADDR=127.0.0.1:18000 \
  RUST_LOG=warn target/release/examples/rtmp_to_hls &
streamly_pid=$!
for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/18000) 2>/dev/null && break; sleep 0.1; done
kill -0 "$streamly_pid" || { echo "rtmp_to_hls did not start" >&2; exit 1; }

cat > "$work/nginx.conf" <<CONF
load_module /usr/lib/nginx/modules/ngx_rtmp_module.so;
worker_processes 1;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 1024; }
rtmp {
  server {
    listen 127.0.0.1:19351;
    chunk_size 4096;
    application live {
      live on;
      record off;
      hls on;
      hls_path $work/hls;
      hls_fragment 1s;
      hls_playlist_length 6s;
    }
  }
}
http {
  access_log off;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy;
  fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi;
  scgi_temp_path $work/scgi;
  server {
    listen 127.0.0.1:18001;
    location /hls/ {
      alias $work/hls/;
      types { application/vnd.apple.mpegurl m3u8; video/mp2t ts; }
      add_header Cache-Control no-cache;
      add_header Access-Control-Allow-Origin *;
    }
  }
}
CONF
nginx -p "$work" -c "$work/nginx.conf"
sleep 1

target/release/examples/latency --hls-js "$hls_js" \
  --target streamly-ll rtmp://127.0.0.1:19350/live/secret1 http://127.0.0.1:18000/hls/demo/index.m3u8 \
  --target streamly-ts rtmp://127.0.0.1:19350/live/secret1 http://127.0.0.1:18000/hls/demo/ts.m3u8 \
  --target nginx-rtmp rtmp://127.0.0.1:19351/live/bench http://127.0.0.1:18001/hls/bench.m3u8 \
  "$@"
