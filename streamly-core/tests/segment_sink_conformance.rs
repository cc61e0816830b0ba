//! One conformance suite for `SegmentSink`, run against every adapter:
//! in-memory, the filesystem (a temporary directory) and, with the `s3`
//! feature, the object-store sink against a real S3 server: `s3s-fs`
//! (`cargo install s3s-fs --version 0.14.1 --features binary`), started by
//! each test on a free loopback port with its own data directory, so the
//! tests run in parallel. The binary is found through `STREAMLY_TEST_S3S_FS`,
//! then `PATH`, then `~/.cargo/bin`; without it the S3 cases skip with a
//! printed reason, except under `CI=true`, where they fail.
//!
//! The adapters' own unit tests keep what only they have (memory eviction,
//! the filesystem's temporary files); everything a caller may rely on on
//! any adapter is here.

use std::sync::Arc;

use bytes::Bytes;
use streamly_core::adapters::{FsSegmentSink, MemorySegmentSink};
use streamly_core::ports::{SegmentPath, SegmentSink};

fn p(s: &str) -> SegmentPath {
    SegmentPath::parse(s).expect("valid path")
}

fn sorted(mut paths: Vec<SegmentPath>) -> Vec<SegmentPath> {
    paths.sort();
    paths
}

/// A body that is not a repetition of one byte, so a truncated or
/// reordered read cannot pass.
fn body(len: usize, seed: u8) -> Bytes {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_be_bytes()[0] ^ seed)
        .collect()
}

async fn round_trip_small_and_2mb(sink: Arc<dyn SegmentSink>) {
    let small = Bytes::from_static(b"#EXTM3U\n");
    sink.put(&p("s/index.m3u8"), small.clone()).await.expect("put");
    assert_eq!(sink.get(&p("s/index.m3u8")).await.expect("get"), Some(small));
    let big = body(2 * 1024 * 1024, 7);
    sink.put(&p("s/0.ts"), big.clone()).await.expect("put 2 MB");
    let read = sink.get(&p("s/0.ts")).await.expect("get").expect("present");
    assert_eq!(read.len(), big.len());
    assert!(read == big, "the 2 MB body came back different");
    let empty = Bytes::new();
    sink.put(&p("s/empty.ts"), empty.clone())
        .await
        .expect("put empty");
    assert_eq!(sink.get(&p("s/empty.ts")).await.expect("get"), Some(empty));
}

async fn overwrite_replaces(sink: Arc<dyn SegmentSink>) {
    sink.put(&p("s/index.m3u8"), body(5000, 1)).await.expect("put");
    sink.put(&p("s/index.m3u8"), Bytes::from_static(b"shorter"))
        .await
        .expect("overwrite");
    assert_eq!(
        sink.get(&p("s/index.m3u8")).await.expect("get"),
        Some(Bytes::from_static(b"shorter"))
    );
    assert_eq!(sink.list("").await.expect("list"), vec![p("s/index.m3u8")]);
}

/// `put_live` stores like `put` (new directories, replacing, a 2 MB body,
/// no temporary file left to list); only its durability differs.
async fn put_live_stores_and_replaces(sink: Arc<dyn SegmentSink>) {
    let big = body(2 * 1024 * 1024, 3);
    sink.put_live(&p("live/a/0.m4s"), big.clone())
        .await
        .expect("put_live into a new directory");
    let read = sink.get(&p("live/a/0.m4s")).await.expect("get").expect("present");
    assert!(read == big, "the 2 MB body came back different");
    sink.put_live(&p("live/a/index.m3u8"), body(3000, 2))
        .await
        .expect("put_live");
    sink.put_live(&p("live/a/index.m3u8"), Bytes::from_static(b"newer"))
        .await
        .expect("replace");
    assert_eq!(
        sink.get(&p("live/a/index.m3u8")).await.expect("get"),
        Some(Bytes::from_static(b"newer"))
    );
    assert_eq!(
        sorted(sink.list("live/").await.expect("list")),
        vec![p("live/a/0.m4s"), p("live/a/index.m3u8")]
    );
}

async fn get_missing_is_none(sink: Arc<dyn SegmentSink>) {
    assert_eq!(sink.get(&p("nobody/0.ts")).await.expect("get"), None);
    sink.put(&p("s/a/0.ts"), Bytes::from_static(b"x"))
        .await
        .expect("put");
    assert_eq!(sink.get(&p("s/1.ts")).await.expect("get"), None);
}

/// A path that is only a "directory" of other objects is no object. Not run
/// on s3s-fs: S3 keys are flat (real S3 answers 404 here), but s3s-fs keeps
/// objects as files and answers 500 for a key that is one of its
/// directories.
async fn get_of_a_directory_is_none(sink: Arc<dyn SegmentSink>) {
    sink.put(&p("s/a/0.ts"), Bytes::from_static(b"x"))
        .await
        .expect("put");
    assert_eq!(sink.get(&p("s/a")).await.expect("get"), None);
    assert_eq!(sink.get(&p("s")).await.expect("get"), None);
}

async fn delete_missing_is_ok(sink: Arc<dyn SegmentSink>) {
    sink.delete(&p("nobody/0.ts")).await.expect("delete missing");
    sink.put(&p("s/0.ts"), Bytes::from_static(b"x"))
        .await
        .expect("put");
    sink.put(&p("s/1.ts"), Bytes::from_static(b"y"))
        .await
        .expect("put");
    sink.delete(&p("s/0.ts")).await.expect("delete");
    assert_eq!(sink.get(&p("s/0.ts")).await.expect("get"), None);
    sink.delete(&p("s/0.ts")).await.expect("delete again");
    assert_eq!(sink.list("").await.expect("list"), vec![p("s/1.ts")]);
}

async fn list_by_prefix(sink: Arc<dyn SegmentSink>) {
    let all = [
        "s1/index.m3u8",
        "s1/0.ts",
        "s1/ll/0.m4s",
        "s10/0.ts",
        "s2/0.ts",
        "top.m3u8",
    ];
    for path in all {
        sink.put(&p(path), Bytes::from(path.as_bytes().to_vec()))
            .await
            .expect("put");
    }
    let want = |paths: &[&str]| sorted(paths.iter().map(|s| p(s)).collect());
    assert_eq!(sorted(sink.list("").await.expect("list")), want(&all));
    assert_eq!(
        sorted(sink.list("s1/").await.expect("list")),
        want(&["s1/index.m3u8", "s1/0.ts", "s1/ll/0.m4s"]),
        "exactly one stream's paths"
    );
    // A plain string prefix, as the port says: "s1" also matches "s10/".
    assert_eq!(
        sorted(sink.list("s1").await.expect("list")),
        want(&["s1/index.m3u8", "s1/0.ts", "s1/ll/0.m4s", "s10/0.ts"])
    );
    assert_eq!(
        sorted(sink.list("s1/ll/").await.expect("list")),
        want(&["s1/ll/0.m4s"])
    );
    assert_eq!(
        sorted(sink.list("s1/in").await.expect("list")),
        want(&["s1/index.m3u8"])
    );
    assert!(sink.list("nobody/").await.expect("list").is_empty());
    assert!(sink.list("s1/x/y/").await.expect("list").is_empty());
    // A prefix no SegmentPath can start with.
    assert!(sink.list("../").await.expect("list").is_empty());
}

async fn paths_with_each_content_type(sink: Arc<dyn SegmentSink>) {
    let cases = [
        ("s/index.m3u8", "application/vnd.apple.mpegurl"),
        ("s/0.ts", "video/mp2t"),
        ("s/init.mp4", "video/mp4"),
        ("s/ll/1.m4s", "video/mp4"),
        ("s/audio.aac", "audio/aac"),
        ("s/blob.bin", "application/octet-stream"),
    ];
    for (i, (path, content_type)) in cases.iter().enumerate() {
        let path = p(path);
        assert_eq!(path.content_type(), *content_type, "{path}");
        sink.put(&path, body(1000 + i, i as u8)).await.expect("put");
    }
    for (i, (path, _)) in cases.iter().enumerate() {
        assert_eq!(
            sink.get(&p(path)).await.expect("get"),
            Some(body(1000 + i, i as u8)),
            "{path}"
        );
    }
    assert_eq!(sink.list("s/").await.expect("list").len(), cases.len());
}

async fn ping_when_healthy(sink: Arc<dyn SegmentSink>) {
    sink.ping().await.expect("ping an empty sink");
    sink.put(&p("s/0.ts"), Bytes::from_static(b"x"))
        .await
        .expect("put");
    sink.ping().await.expect("ping");
}

mod backends {
    use super::*;

    pub fn memory() -> Arc<dyn SegmentSink> {
        Arc::new(MemorySegmentSink::new(64 * 1024 * 1024))
    }

    pub async fn fs(dir: &tempfile::TempDir) -> Arc<dyn SegmentSink> {
        Arc::new(
            FsSegmentSink::open(dir.path().join("segments"))
                .await
                .expect("open"),
        )
    }
}

#[cfg(feature = "s3")]
mod s3 {
    //! The s3s-fs server, and the cases only an S3 sink has.

    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::path::PathBuf;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use object_store::aws::AmazonS3Builder;
    use object_store::{Attribute, ObjectStoreExt};
    use streamly_core::adapters::{ObjectStoreSegmentSink, ObjectStoreSinkConfig};

    use super::*;

    pub const ACCESS_KEY: &str = "streamly-test-ak";
    pub const SECRET_KEY: &str = "streamly-test-secret-DO-NOT-LOG";
    pub const BUCKET: &str = "segments";
    /// The sink's key prefix in the bucket: paths are listed relative to it.
    pub const PREFIX: &str = "live/node-a";

    /// The `s3s-fs` binary, or `None` (after checking CI) to skip.
    fn s3s_fs_binary() -> Option<PathBuf> {
        let found = std::env::var_os("STREAMLY_TEST_S3S_FS")
            .map(PathBuf::from)
            .or_else(|| {
                let path = std::env::var_os("PATH")?;
                std::env::split_paths(&path)
                    .map(|dir| dir.join("s3s-fs"))
                    .find(|bin| bin.is_file())
            })
            .or_else(|| {
                let bin = PathBuf::from(std::env::var_os("HOME")?).join(".cargo/bin/s3s-fs");
                bin.is_file().then_some(bin)
            });
        if found.is_none() {
            // Under CI every oracle must run: a missing one fails the test.
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true and s3s-fs is missing: set STREAMLY_TEST_S3S_FS or put it on PATH \
                 (cargo install s3s-fs --version 0.14.1 --features binary --locked)"
            );
            eprintln!(
                "skipping: s3s-fs not found (STREAMLY_TEST_S3S_FS, PATH, ~/.cargo/bin); \
                 cargo install s3s-fs --version 0.14.1 --features binary --locked"
            );
        }
        found
    }

    /// A port nothing listens on now (the kernel picked it, then it was
    /// released).
    fn free_port() -> u16 {
        TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("bind a free port")
            .port()
    }

    /// An s3s-fs process with its own data directory; killed on drop.
    pub struct S3sFs {
        child: Child,
        pub addr: SocketAddr,
        _dir: tempfile::TempDir,
    }

    impl Drop for S3sFs {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    impl S3sFs {
        /// Starts a server holding an empty [`BUCKET`]; `None` to skip.
        pub async fn start() -> Option<Self> {
            let bin = s3s_fs_binary()?;
            let dir = tempfile::tempdir().expect("tempdir");
            // s3s-fs maps each bucket to a directory under its root.
            std::fs::create_dir(dir.path().join(BUCKET)).expect("bucket directory");
            // The port is free when picked but another process could take
            // it before s3s-fs binds: a server that exits early is retried
            // on a new port.
            for _ in 0..5 {
                let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
                let mut child = Command::new(&bin)
                    .args(["--host", "127.0.0.1", "--port", &addr.port().to_string()])
                    .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                    .arg(dir.path())
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
                // Ready once it accepts connections (polled: there is no
                // readiness signal to wait on).
                let deadline = Instant::now() + Duration::from_secs(20);
                while Instant::now() < deadline {
                    if child.try_wait().expect("child status").is_some() {
                        break;
                    }
                    if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                        return Some(Self {
                            child,
                            addr,
                            _dir: dir,
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                let _ = child.kill();
                let _ = child.wait();
            }
            panic!("s3s-fs did not start");
        }

        /// A builder for this server (path-style, plain HTTP, test keys).
        pub fn builder(&self) -> AmazonS3Builder {
            builder_for(self.addr, ACCESS_KEY, SECRET_KEY)
        }

        /// The sink under test: [`BUCKET`]/[`PREFIX`], default config.
        pub fn sink(&self) -> ObjectStoreSegmentSink {
            ObjectStoreSegmentSink::from_builder(
                self.builder(),
                &format!("s3://{BUCKET}/{PREFIX}"),
                &ObjectStoreSinkConfig::default(),
            )
            .expect("sink")
        }
    }

    pub fn builder_for(addr: SocketAddr, access_key: &str, secret: &str) -> AmazonS3Builder {
        AmazonS3Builder::new()
            .with_endpoint(format!("http://{addr}"))
            .with_region("us-east-1")
            .with_access_key_id(access_key)
            .with_secret_access_key(secret)
            .with_allow_http(true)
    }

    /// A raw client on the same bucket, to see what the sink stored.
    fn raw_store(server: &S3sFs) -> object_store::aws::AmazonS3 {
        server
            .builder()
            .with_bucket_name(BUCKET)
            .build()
            .expect("raw client")
    }

    #[tokio::test]
    async fn keys_sit_under_the_prefix_with_their_content_type() {
        let Some(server) = S3sFs::start().await else {
            return;
        };
        let sink = server.sink();
        assert_eq!(sink.prefix(), PREFIX);
        sink.put(&p("s/index.m3u8"), Bytes::from_static(b"#EXTM3U\n"))
            .await
            .expect("put");
        sink.put(&p("s/0.ts"), Bytes::from_static(b"ts"))
            .await
            .expect("put");
        let raw = raw_store(&server);
        for (key, content_type) in [
            ("live/node-a/s/index.m3u8", "application/vnd.apple.mpegurl"),
            ("live/node-a/s/0.ts", "video/mp2t"),
        ] {
            let got = raw.get(&key.into()).await.expect("stored under the prefix");
            assert_eq!(
                got.attributes.get(&Attribute::ContentType).map(|v| v.as_ref()),
                Some(content_type),
                "{key}"
            );
        }
        // Objects outside the prefix, or that no SegmentPath can name, are
        // not the sink's.
        raw.put(&"live/node-b/s/0.ts".into(), Bytes::from_static(b"other").into())
            .await
            .expect("put beside");
        raw.put(&"live/node-a/s/.tmp".into(), Bytes::from_static(b"odd").into())
            .await
            .expect("put odd");
        assert_eq!(
            sorted(sink.list("").await.expect("list")),
            vec![p("s/0.ts"), p("s/index.m3u8")]
        );
        // A sink on the whole bucket sees both prefixes.
        let whole = ObjectStoreSegmentSink::from_builder(
            server.builder(),
            &format!("s3://{BUCKET}"),
            &ObjectStoreSinkConfig::default(),
        )
        .expect("sink");
        assert_eq!(
            whole.list("live/node-b/").await.expect("list"),
            vec![p("live/node-b/s/0.ts")]
        );
    }

    #[tokio::test]
    async fn ping_fails_for_a_missing_bucket_or_wrong_keys() {
        let Some(server) = S3sFs::start().await else {
            return;
        };
        let config = ObjectStoreSinkConfig::default();
        let missing =
            ObjectStoreSegmentSink::from_builder(server.builder(), "s3://no-such-bucket/x", &config)
                .expect("sink");
        let e = missing.ping().await.expect_err("no such bucket");
        assert!(e.to_string().contains("no-such-bucket"), "{e}");
        let wrong = ObjectStoreSegmentSink::from_builder(
            builder_for(server.addr, ACCESS_KEY, "not-the-secret"),
            &format!("s3://{BUCKET}/{PREFIX}"),
            &config,
        )
        .expect("sink");
        let e = wrong.ping().await.expect_err("wrong secret");
        assert!(!e.to_string().contains("not-the-secret"), "{e}");
        server.sink().ping().await.expect("the right keys work");
    }

    /// What a dead store costs a caller with the default config: the
    /// failure must come within the retry budget (about 4–6 s), not after
    /// object_store's default 3 minutes, and say what failed.
    async fn put_fails_fast(addr: SocketAddr) {
        let config = ObjectStoreSinkConfig::default();
        let sink = ObjectStoreSegmentSink::from_builder(
            builder_for(addr, ACCESS_KEY, SECRET_KEY),
            &format!("s3://{BUCKET}/{PREFIX}"),
            &config,
        )
        .expect("sink");
        let started = Instant::now();
        let e = sink
            .put(&p("s/0.ts"), Bytes::from_static(b"segment"))
            .await
            .expect_err("the store is down");
        let elapsed = started.elapsed();
        assert!(
            elapsed < Duration::from_secs(10),
            "failed after {elapsed:?}, want the live budget"
        );
        let message = format!("{e} / {:?}", std::error::Error::source(&e));
        assert!(message.contains("s/0.ts"), "{message}");
        assert!(message.contains("PUT"), "{message}");
        assert!(!message.contains(SECRET_KEY), "{message}");
        eprintln!("a dead store failed the put after {elapsed:?}: {e}");
    }

    #[tokio::test]
    async fn server_down_put_fails_within_the_budget() {
        // The server was there and is gone: connections are refused.
        let Some(server) = S3sFs::start().await else {
            return;
        };
        let addr = server.addr;
        server.sink().ping().await.expect("up");
        drop(server);
        put_fails_fast(addr).await;
    }

    #[tokio::test]
    async fn hung_server_put_fails_within_the_budget() {
        // A server that accepts connections (the kernel does, into the
        // backlog) and never answers: only the timeouts end the call.
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        put_fails_fast(listener.local_addr().expect("addr")).await;
        drop(listener);
    }

    #[test]
    fn from_url_refuses_other_schemes() {
        let config = ObjectStoreSinkConfig::default();
        for bad in ["http://bucket/x", "bucket/x", "s3:///x"] {
            assert!(ObjectStoreSegmentSink::from_url(bad, &config).is_err(), "{bad}");
        }
    }
}

macro_rules! conformance {
    ($($check:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $check() {
                    super::$check(super::backends::memory()).await;
                }
            )*
        }
        mod fs {
            $(
                #[tokio::test]
                async fn $check() {
                    let dir = tempfile::tempdir().expect("tempdir");
                    super::$check(super::backends::fs(&dir).await).await;
                }
            )*
        }
        #[cfg(feature = "s3")]
        mod s3_sink {
            $(
                #[tokio::test]
                async fn $check() {
                    let Some(server) = super::s3::S3sFs::start().await else { return };
                    super::$check(std::sync::Arc::new(server.sink())).await;
                }
            )*
        }
    };
}

conformance!(
    round_trip_small_and_2mb,
    overwrite_replaces,
    put_live_stores_and_replaces,
    get_missing_is_none,
    delete_missing_is_ok,
    list_by_prefix,
    paths_with_each_content_type,
    ping_when_healthy,
);

mod directories {
    #[tokio::test]
    async fn memory() {
        super::get_of_a_directory_is_none(super::backends::memory()).await;
    }

    #[tokio::test]
    async fn fs() {
        let dir = tempfile::tempdir().expect("tempdir");
        super::get_of_a_directory_is_none(super::backends::fs(&dir).await).await;
    }
}
