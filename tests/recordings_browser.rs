//! The dashboard's recordings in headless Chromium (chromedriver): sign up,
//! create a stream, broadcast the fixture with ffmpeg; the stream's
//! Recordings panel lists the recording, its MP4 plays in the page's
//! `<video>` (currentTime advances), the download link is the MP4, its
//! Viewers button shows the broadcast's analytics, and Delete removes it.
//! Skips, saying why, without chromedriver or ffmpeg — except under
//! `CI=true`.
#![allow(clippy::unwrap_used)]

mod platform_support;

use std::time::Duration;

use fantoccini::Locator;
use platform_support::browser::{
    adopt_session, browser, chromedriver_available, js, save, start_chromedriver,
};
use platform_support::{Running, have, http, publish, ready_recording, register, wait_for};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_plays_downloads_and_deletes_a_recording() {
    if !chromedriver_available() || !have("ffmpeg") {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: a test cannot skip"
        );
        eprintln!("skipping: chromedriver or ffmpeg not on PATH");
        return;
    }
    let segments = tempfile::tempdir().unwrap();
    let app = Running::start_with(None, Some(segments.path())).await;
    let base = app.base.clone();

    // An account and a stream through the API; the browser gets the session.
    let name = format!("rec{}", platform_support::unique());
    let (token, auth) = register(&base, &name).await;
    let r = http(
        "POST",
        &format!("{base}/api/streams"),
        Some(&token),
        Some(json!({"title": "Recorded in the browser"})),
    )
    .await;
    assert_eq!(r.status, 201, "{}", r.text);
    let stream = r.body["id"].as_str().unwrap().to_owned();
    let url = format!(
        "{}/{}",
        r.body["rtmp_url"].as_str().unwrap(),
        r.body["stream_key"].as_str().unwrap()
    );
    assert!(publish(&url, false).wait().await.unwrap().success());
    let rec = ready_recording(&base, &stream).await;

    let driver = start_chromedriver().await;
    let client = browser(&driver).await;
    client.goto(&format!("{base}/signin")).await.unwrap();
    adopt_session(&client, &auth).await;
    client.goto(&format!("{base}/dashboard")).await.unwrap();

    let button = wait_for("the Recordings button", Duration::from_secs(15), || async {
        let buttons = client.find_all(Locator::Css("#streams-body button")).await.ok()?;
        for b in buttons {
            if b.text().await.ok()? == "Recordings" {
                return Some(b);
            }
        }
        None
    })
    .await;
    let toggle = js(
        &client,
        "return [...document.querySelectorAll('#streams-body button')].map(b => b.textContent)",
    )
    .await;
    assert!(toggle.to_string().contains("Recording on"), "{toggle}");
    button.click().await.unwrap();
    let row = format!("#recordings-body tr[data-id='{}']", rec["id"].as_str().unwrap());
    client.wait().for_element(Locator::Css(&row)).await.unwrap();
    let href = client
        .find(Locator::Css(&format!("{row} a")))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap();
    assert_eq!(href.as_deref(), rec["mp4_url"].as_str());

    // Play: the MP4 plays in the page.
    client
        .find(Locator::Css(&format!("{row} button.secondary")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let played = wait_for("the recording to play", Duration::from_secs(30), || async {
        let v = client
            .execute(
                "const v = document.getElementById('recording-player'); \
                 return {t: v.currentTime, d: v.duration, err: v.error && v.error.code};",
                vec![],
            )
            .await
            .ok()?;
        assert!(v["err"].is_null(), "video error: {v}");
        (v["t"].as_f64()? > 1.0).then_some(v)
    })
    .await;
    eprintln!("recording playing: {played}");
    let duration = played["d"].as_f64().unwrap_or(0.0);
    assert!(
        (9.5..=10.6).contains(&duration),
        "the player knows the length: {played}"
    );
    save(&client, "dashboard-recordings").await;

    // Viewers: the recorded broadcast's analytics (issue 15).
    let viewers = wait_for(
        "the recording's Viewers button",
        Duration::from_secs(5),
        || async {
            for b in client
                .find_all(Locator::Css(&format!("{row} button")))
                .await
                .ok()?
            {
                if b.text().await.ok()? == "Viewers" {
                    return Some(b);
                }
            }
            None
        },
    )
    .await;
    viewers.click().await.unwrap();
    wait_for("the recording's analytics", Duration::from_secs(10), || async {
        let v = js(
            &client,
            "return [document.getElementById('analytics-title').textContent, \
                     document.getElementById('analytics-status').textContent]",
        )
        .await;
        let ok = v[0].as_str()?.contains("recording of") && v[1].as_str()?.starts_with("Last broadcast");
        ok.then_some(())
    })
    .await;

    // Delete (the page asks first: accept).
    js(&client, "window.confirm = () => true; return true").await;
    client
        .find(Locator::Css(&format!("{row} button.danger")))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for("the row to go", Duration::from_secs(10), || async {
        client.find(Locator::Css(&row)).await.is_err().then_some(())
    })
    .await;
    let r = http(
        "GET",
        &format!("{base}/api/recordings/{}", rec["id"].as_str().unwrap()),
        None,
        None,
    )
    .await;
    assert_eq!(r.status, 404);
    client.close().await.unwrap();
    app.stop().await;
}
