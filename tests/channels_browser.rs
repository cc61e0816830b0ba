//! Channels in headless Chromium (issue 14): two users sign up; A sets a
//! display name and uploads an avatar from the dashboard; B follows A from
//! A's channel page; A goes live (ffmpeg) and B's home page shows A live
//! under "Following" with a thumbnail that loads (a real JPEG); after A
//! stops, A's past broadcast plays on the channel page. Screenshots go to
//! `<target>/tmp/browser-screenshots/`. Skips, saying why, without
//! chromedriver or ffmpeg — except under `CI=true`.
#![allow(clippy::unwrap_used)]

mod platform_support;

use std::time::Duration;

use fantoccini::{Client, Locator};
use platform_support::browser::{
    browser, chromedriver_available, click, fill, js, save, sign_up, start_chromedriver, wait_text,
};
use platform_support::{Running, have, http, publish, ready_recording, skip_or_fail_in_ci, unique, wait_for};
use serde_json::Value;

/// What an `<img>` shows: its natural size, the content type its URL
/// serves, and how many of a 16 × 16 grid of its pixels are vivid (a
/// channel spread over 96: the fixture's colour bars; the grey placeholder
/// has none). `None` until it loaded.
async fn image_state(client: &Client, css: &str) -> Option<Value> {
    let script = format!(
        "const done = arguments[arguments.length - 1];
         const img = document.querySelector({css:?});
         if (!img || !img.complete || img.naturalWidth === 0) {{ done(null); return; }}
         const c = document.createElement('canvas');
         c.width = 16; c.height = 16;
         const g = c.getContext('2d');
         g.drawImage(img, 0, 0, 16, 16);
         const px = g.getImageData(0, 0, 16, 16).data;
         let vivid = 0;
         for (let i = 0; i < px.length; i += 4) {{
           const [r, g, b] = [px[i], px[i + 1], px[i + 2]];
           if (Math.max(r, g, b) - Math.min(r, g, b) > 96) vivid += 1;
         }}
         fetch(img.src).then(r => done({{w: img.naturalWidth, type: r.headers.get('content-type'), vivid}}),
                             () => done(null));"
    );
    let v = client.execute_async(&script, vec![]).await.ok()?;
    (!v.is_null()).then_some(v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follow_a_channel_see_it_live_and_play_its_past_broadcast() {
    if !chromedriver_available() || !have("ffmpeg") {
        skip_or_fail_in_ci("chromedriver or ffmpeg is not on PATH");
        return;
    }
    let segments = tempfile::tempdir().unwrap();
    let app = Running::start_with(None, Some(segments.path())).await;
    let base = app.base.clone();
    let driver = start_chromedriver().await;
    let suffix = unique();
    let (a_name, b_name) = (format!("ann{suffix}"), format!("ben{suffix}"));

    // A: signs up, names the channel, uploads an avatar, creates a stream.
    let a = browser(&driver).await;
    sign_up(&a, &base, &a_name).await;
    fill(&a, "#profile-display-name", "Ann Live").await;
    fill(&a, "#profile-bio", "Speedruns on Sundays.").await;
    click(&a, "#profile-form button[type=submit]").await;
    wait_for("the profile to save", Duration::from_secs(10), || async {
        let text = a
            .find(Locator::Css("#profile-status"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        (text == "Profile saved.").then_some(())
    })
    .await;
    let avatar_file = segments.path().join("avatar.png");
    image::RgbImage::from_pixel(300, 200, image::Rgb([230, 120, 20]))
        .save(&avatar_file)
        .unwrap();
    a.find(Locator::Css("#avatar-file"))
        .await
        .unwrap()
        .send_keys(avatar_file.to_str().unwrap())
        .await
        .unwrap();
    click(&a, "#avatar-form button[type=submit]").await;
    let avatar = wait_for("the uploaded avatar", Duration::from_secs(10), || {
        image_state(&a, "#profile-avatar img")
    })
    .await;
    assert_eq!(avatar["type"], "image/png", "{avatar}");
    fill(&a, "#new-title", "Ann's speedrun").await;
    click(&a, "#create-form button").await;
    let key = wait_text(&a, "#stream-key").await;
    let rtmp = a
        .find(Locator::Css("#rtmp-url"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();

    // B: signs up and follows A from A's channel page.
    let b = browser(&driver).await;
    sign_up(&b, &base, &b_name).await;
    b.goto(&format!("{base}/c/{a_name}")).await.unwrap();
    wait_for("A's channel page", Duration::from_secs(10), || async {
        let name = b
            .find(Locator::Css("#channel-name"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        (name == "Ann Live").then_some(())
    })
    .await;
    wait_for("A's avatar on the channel page", Duration::from_secs(10), || {
        image_state(&b, "#avatar img")
    })
    .await;
    click(&b, "#follow").await;
    wait_for("the follow to take", Duration::from_secs(10), || async {
        let pressed = b
            .find(Locator::Css("#follow"))
            .await
            .ok()?
            .attr("aria-pressed")
            .await
            .ok()??;
        let count = b
            .find(Locator::Css("#follower-count"))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        (pressed == "true" && count == "1 follower").then_some(())
    })
    .await;

    // A goes live: B's home page shows A under "Following", live, with a
    // real thumbnail.
    let mut ffmpeg = publish(&format!("{rtmp}/{key}"), true);
    b.goto(&base).await.unwrap();
    let card = format!("#following li[data-channel='{a_name}']");
    let thumb = wait_for(
        "A live with a thumbnail under Following",
        Duration::from_secs(45),
        || async {
            // The list refreshes every 10 s; reload to see it sooner.
            let live = b.find(Locator::Css(&format!("{card} .badge.live"))).await.is_ok();
            if !live {
                b.refresh().await.ok()?;
                tokio::time::sleep(Duration::from_millis(500)).await;
                return None;
            }
            let state = image_state(&b, &format!("{card} img")).await?;
            (state["type"] == "image/jpeg").then_some(state)
        },
    )
    .await;
    assert_eq!(
        (thumb["w"].as_u64(), thumb["type"].as_str()),
        (Some(320), Some("image/jpeg")),
        "{thumb}"
    );
    save(&b, "home-following-live").await;

    // A stops: the broadcast becomes a past broadcast that plays on the
    // channel page.
    ffmpeg.kill().await.unwrap();
    let mine = http("GET", &format!("{base}/api/users/{a_name}"), None, None).await;
    let stream = mine.body["streams"][0]["id"].as_str().unwrap().to_owned();
    ready_recording(&base, &stream).await;
    b.goto(&format!("{base}/c/{a_name}")).await.unwrap();
    click(&b, "#past-broadcasts li button").await;
    let played = wait_for("the past broadcast to play", Duration::from_secs(30), || async {
        let v = js(
            &b,
            "const v = document.getElementById('past-player'); return {t: v.currentTime, err: v.error && v.error.code};",
        )
        .await;
        assert!(v["err"].is_null(), "video error: {v}");
        (v["t"].as_f64()? > 1.0).then_some(v)
    })
    .await;
    eprintln!("past broadcast playing: {played}");
    let past_thumb = image_state(&b, "#past-broadcasts li img").await;
    assert!(past_thumb.is_some(), "the past broadcast's thumbnail loads");
    save(&b, "channel-past-broadcast").await;
    a.close().await.unwrap();
    b.close().await.unwrap();
    app.stop().await;
}
