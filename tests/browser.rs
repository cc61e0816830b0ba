//! The web UI in a real browser: headless Debian Chromium driven through
//! chromedriver. Sign up, create a stream, publish with ffmpeg, watch the
//! video play and see a chat message from a second browser session.
//! Screenshots of the home, watch and dashboard pages are saved under
//! `<target>/tmp/browser-screenshots/`.
#![allow(clippy::unwrap_used)]

mod platform_support;

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use platform_support::{Running, have, publish, wait_for};
use serde_json::json;

const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--autoplay-policy=no-user-gesture-required",
    "--window-size=1280,900",
];

struct Driver {
    child: tokio::process::Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

async fn start_chromedriver() -> Driver {
    // chromedriver needs a port number up front: take one the OS says is free.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let child = tokio::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver starts");
    wait_for("chromedriver to listen", Duration::from_secs(20), || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    Driver {
        child,
        url: format!("http://127.0.0.1:{port}"),
    }
}

async fn browser(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    let mut options = json!({ "args": CHROMIUM_ARGS });
    if std::path::Path::new("/usr/bin/chromium").exists() {
        options["binary"] = json!("/usr/bin/chromium");
    }
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::rustls()
        .expect("rustls")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("browser session")
}

fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

async fn save(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    let path = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
    eprintln!("screenshot: {}", path.display());
}

async fn fill(client: &Client, css: &str, text: &str) {
    let input = client.wait().for_element(Locator::Css(css)).await.expect(css);
    input.clear().await.expect("clear");
    input.send_keys(text).await.expect("type");
}

async fn sign_up(client: &Client, base: &str, name: &str) {
    client.goto(&format!("{base}/signup")).await.expect("signup page");
    fill(client, "#username", name).await;
    fill(client, "#email", &format!("{name}@example.com")).await;
    fill(client, "#password", "correct horse").await;
    client
        .find(Locator::Css("#auth-form button[type=submit]"))
        .await
        .expect("submit")
        .click()
        .await
        .expect("click");
    wait_for("the dashboard after sign-up", Duration::from_secs(15), || async {
        let url = client.current_url().await.ok()?;
        (url.path() == "/dashboard").then_some(())
    })
    .await;
}

async fn js(client: &Client, script: &str) -> serde_json::Value {
    client.execute(script, vec![]).await.expect("script")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_go_live_watch_and_chat_in_chromium() {
    let chromedriver = std::process::Command::new("chromedriver")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if !chromedriver.is_ok_and(|s| s.success()) {
        eprintln!("skipping: chromedriver not on PATH (apt-get install chromium chromium-driver)");
        return;
    }
    if !have("ffmpeg") {
        eprintln!("skipping: ffmpeg not on PATH");
        return;
    }
    // Both of rustls' crypto providers are compiled in (fantoccini's TLS
    // stack brings one, sqlx the other): choose one for the process.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let app = Running::start(None).await;
    let base = app.base.clone();
    let driver = start_chromedriver().await;
    let alice = browser(&driver).await;

    // Sign up and create a stream: the key is shown once.
    sign_up(&alice, &base, "alice").await;
    fill(&alice, "#new-title", "Alice live from the browser").await;
    alice
        .find(Locator::Css("#create-form button"))
        .await
        .expect("create")
        .click()
        .await
        .expect("click");
    let key = wait_for("the stream key", Duration::from_secs(10), || async {
        let text = alice
            .find(Locator::Css("#stream-key"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        (!text.is_empty()).then_some(text)
    })
    .await;
    let rtmp_url = alice
        .find(Locator::Css("#rtmp-url"))
        .await
        .expect("rtmp url")
        .text()
        .await
        .expect("text");
    assert!(rtmp_url.starts_with("rtmp://127.0.0.1:"), "{rtmp_url}");
    let watch_href = wait_for("the stream in the table", Duration::from_secs(10), || async {
        alice
            .find(Locator::Css("#streams-body a"))
            .await
            .ok()?
            .attr("href")
            .await
            .ok()?
    })
    .await;
    save(&alice, "dashboard").await;

    // Go live.
    let _ffmpeg = publish(&format!("{rtmp_url}/{key}"), true);

    // Home lists it.
    alice.goto(&format!("{base}/")).await.expect("home");
    wait_for(
        "the live stream on the home page",
        Duration::from_secs(30),
        || async {
            let text = alice
                .find(Locator::Css("#streams"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            text.contains("Alice live from the browser").then_some(())
        },
    )
    .await;
    save(&alice, "home").await;

    // Watch: the video plays (currentTime advances).
    alice
        .goto(&format!("{base}{watch_href}"))
        .await
        .expect("watch page");
    let native = js(
        &alice,
        "return document.createElement('video').canPlayType('application/vnd.apple.mpegurl')",
    )
    .await;
    eprintln!("native HLS support: {native}");
    let first = wait_for("the video to play", Duration::from_secs(40), || async {
        let t = alice
            .execute(
                "const v = document.querySelector('video'); return v ? v.currentTime : 0",
                vec![],
            )
            .await
            .ok()?;
        t.as_f64().filter(|t| *t > 0.5)
    })
    .await;
    wait_for("currentTime to advance", Duration::from_secs(20), || async {
        let t = alice
            .execute("return document.querySelector('video').currentTime", vec![])
            .await
            .ok()?;
        t.as_f64().filter(|t| *t > first + 1.0).map(|_| ())
    })
    .await;

    // A second browser session (bob) chats; alice sees it.
    let bob = browser(&driver).await;
    sign_up(&bob, &base, "bob").await;
    bob.goto(&format!("{base}{watch_href}"))
        .await
        .expect("watch page");
    let input = bob
        .wait()
        .for_element(Locator::Css("#chat-form:not([hidden]) #chat-input"))
        .await
        .expect("chat input");
    input.send_keys("hello from bob").await.expect("type");
    bob.find(Locator::Css("#chat-form button"))
        .await
        .expect("send")
        .click()
        .await
        .expect("click");
    wait_for(
        "bob's message in alice's chat",
        Duration::from_secs(10),
        || async {
            let text = alice
                .find(Locator::Css("#messages"))
                .await
                .ok()?
                .text()
                .await
                .ok()?;
            text.contains("hello from bob").then_some(())
        },
    )
    .await;
    let viewers = alice
        .find(Locator::Css("#viewers"))
        .await
        .expect("viewers")
        .text()
        .await
        .expect("text");
    eprintln!("viewers: {viewers}");
    save(&alice, "watch").await;

    // Phone width: the watch page stacks the chat under the player.
    alice.set_window_size(390, 844).await.expect("resize");
    save(&alice, "watch-phone").await;

    bob.close().await.expect("close bob");
    alice.close().await.expect("close alice");
    app.stop().await;
}
