//! The web UI in a real browser: headless Debian Chromium driven through
//! chromedriver. Sign up, create a stream, publish with ffmpeg, watch the
//! video play (hls.js in low-latency mode on the LL-HLS playlist: blocking
//! reloads and parts, no stall, the latency shown) and see a chat message
//! from a second browser session. Screenshots of the home, watch and
//! dashboard pages are saved under `<target>/tmp/browser-screenshots/`.
//!
//! Needs `chromedriver` (Debian `chromium` + `chromium-driver`), `ffmpeg`
//! and an hls.js build: `STREAMLY_TEST_HLS_JS=/path/to/hls.min.js`, or the
//! copy `.ci/run` fetches with npm into `target/npm/`. Without one of them
//! the test skips, saying why — except under `CI=true`, where it fails.
#![allow(clippy::unwrap_used)]

mod platform_support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::Locator;
use platform_support::browser::{browser, fill, js, save, sign_up, start_chromedriver, wait_text};
use platform_support::{Running, have, publish, wait_for};

/// Skips the test (prints why and returns `false`), or fails it under
/// `CI=true`, where every tool must be there.
fn require(present: bool, what: &str) -> bool {
    if present {
        return true;
    }
    assert!(std::env::var("CI").as_deref() != Ok("true"), "CI=true and {what}");
    eprintln!("skipping: {what}");
    false
}

/// The hls.js build to serve: `STREAMLY_TEST_HLS_JS`, else the newest one
/// `.ci/run` unpacked under `target/npm/hls.js-<version>/`.
fn hls_js() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("STREAMLY_TEST_HLS_JS") {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/npm");
    let mut found: Vec<PathBuf> = std::fs::read_dir(cache)
        .ok()?
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("hls.js-"))
        .map(|e| e.path().join("hls.min.js"))
        .filter(|p| p.is_file())
        .collect();
    found.sort();
    found.pop()
}

/// What the page says about its player: which one, whether hls.js made
/// blocking playlist reloads and loaded parts.
const PLAYER_STATE: &str = r#"
    const v = document.querySelector('video');
    const names = performance.getEntriesByType('resource').map(e => e.name);
    return {
        player: v ? (v.dataset.player || null) : null,
        hls_js: typeof window.Hls === 'function',
        blocking_reloads: names.filter(n => n.includes('index.m3u8?') && n.includes('_HLS_msn=')).length,
        parts: names.filter(n => /_[0-9]+_[0-9]+[.]m4s$/.test(n)).length,
    };
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_up_go_live_watch_and_chat_in_chromium() {
    if !require(
        platform_support::browser::chromedriver_available(),
        "chromedriver not on PATH (apt-get install chromium chromium-driver)",
    ) || !require(have("ffmpeg"), "ffmpeg not on PATH")
    {
        return;
    }
    let Some(hls_js) = hls_js() else {
        require(
            false,
            "no hls.js: set STREAMLY_TEST_HLS_JS to a hls.min.js, or run .ci/run (npm pack hls.js into target/npm)",
        );
        return;
    };
    eprintln!("hls.js: {}", hls_js.display());
    let ui = streamly::web::UiConfig::serve_hls_js(&hls_js).expect("hls.js readable");
    let app = Running::start_with_ui(None, None, ui).await;
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
    let key = wait_text(&alice, "#stream-key").await;
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
    // Its card shows the live thumbnail, loaded (a JPEG once ffmpeg made
    // one; the home page refreshes every 10 s).
    wait_for(
        "the card's thumbnail to load",
        Duration::from_secs(40),
        || async {
            let loaded = js(
                &alice,
                "const i = document.querySelector('#streams .card a.thumb img'); \
             return !!(i && i.complete && i.naturalWidth > 0 && new URL(i.currentSrc).pathname.endsWith('/thumbnail.jpg'));",
            )
            .await;
            (loaded == serde_json::Value::Bool(true)).then_some(())
        },
    )
    .await;
    save(&alice, "home").await;

    // The dashboard shows the live stream's health (polled every 2 s).
    alice.goto(&format!("{base}/dashboard")).await.expect("dashboard");
    let figures = wait_for("the stream health figures", Duration::from_secs(30), || async {
        let text = alice
            .find(Locator::Css("#health-figures"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        (text.contains("320×240") && text.contains("kbit/s (10 s)") && text.contains("fps")).then_some(text)
    })
    .await;
    eprintln!("dashboard health: {figures}");
    assert!(figures.contains("H.264 High"), "{figures}");
    assert!(figures.contains("AAC LC · 44100 Hz · 2 ch"), "{figures}");
    js(
        &alice,
        "document.getElementById('health-panel').scrollIntoView(); return null",
    )
    .await;
    save(&alice, "dashboard-health").await;

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

    // hls.js plays the LL-HLS playlist in low-latency mode: blocking
    // reloads (`_HLS_msn`) and parts.
    let state = js(&alice, PLAYER_STATE).await;
    eprintln!("player: {state}");
    assert_eq!(state["player"], "hls.js", "{state}");
    assert_eq!(state["hls_js"], true, "{state}");
    assert!(state["blocking_reloads"].as_u64() > Some(0), "{state}");
    assert!(state["parts"].as_u64() > Some(0), "{state}");

    // No stall over 5 s of playback: no `waiting` event, enough data
    // buffered at every look, and the playhead moving with the clock.
    js(
        &alice,
        "window.__waiting = 0; document.querySelector('video')
             .addEventListener('waiting', () => { window.__waiting += 1; }); return null",
    )
    .await;
    let start = js(&alice, "return document.querySelector('video').currentTime").await;
    let mut lowest_ready_state = 4;
    for _ in 0..20 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let r = js(&alice, "return document.querySelector('video').readyState").await;
        lowest_ready_state = lowest_ready_state.min(r.as_u64().unwrap_or(0));
    }
    let end = js(&alice, "return document.querySelector('video').currentTime").await;
    let waiting = js(&alice, "return window.__waiting").await;
    let played = end.as_f64().unwrap() - start.as_f64().unwrap();
    eprintln!(
        "over 5 s: played {played:.2} s, lowest readyState {lowest_ready_state}, waiting events {waiting}"
    );
    assert_eq!(waiting, 0, "the video stalled");
    assert!(lowest_ready_state >= 3, "readyState fell to {lowest_ready_state}");
    assert!(played > 4.0, "played only {played:.2} s in 5 s");

    // The latency is shown next to the live badge.
    let shown = wait_for("the latency figure", Duration::from_secs(10), || async {
        let el = alice.find(Locator::Css("#latency:not([hidden])")).await.ok()?;
        let text = el.text().await.ok()?;
        let seconds: f64 = text.strip_prefix("Latency ")?.strip_suffix(" s")?.parse().ok()?;
        Some((text, seconds))
    })
    .await;
    eprintln!("shown: {:?}", shown.0);
    assert!((0.0..30.0).contains(&shown.1), "{:?}", shown.0);

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
