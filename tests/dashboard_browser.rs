//! The streamer's dashboard in headless Chromium (chromedriver), during a
//! publish of the fixture with three players polling the playlist: the
//! bitrate and viewers charts show non-zero values (screenshot saved under
//! `CARGO_TARGET_TMPDIR/browser-screenshots/dashboard-charts.png`), with a
//! table behind each; editing the title, description and tags on the
//! dashboard shows on the watch page, a later rename reaches the open watch
//! page, and the home page's search finds the stream. Skips, saying why,
//! without chromedriver or ffmpeg — except under `CI=true`.
#![allow(clippy::unwrap_used)]

mod platform_support;

use std::time::Duration;

use fantoccini::{Client, Locator};
use platform_support::browser::{
    adopt_session, browser_sized, chromedriver_available, js, save, start_chromedriver,
};
use platform_support::{
    Running, have, http, player, publish, streamer_with_stream, unique, wait_for, wait_for_playlist,
};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

/// What a chart shows: its caption, whether it drew a line, and its
/// table's values.
async fn chart(client: &Client, figure: &str) -> Value {
    let script = format!(
        "const f = document.getElementById('{figure}'); \
         return {{caption: f.querySelector('figcaption').textContent, \
                  line: !!f.querySelector('svg path.line'), \
                  ticks: f.querySelectorAll('svg text.tick').length, \
                  values: [...f.querySelectorAll('table tbody td')].map(td => Number(td.textContent.replace(/[^0-9.]/g, '')))}};"
    );
    js(client, &script).await
}

fn max_value(chart: &Value) -> f64 {
    chart["values"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_f64)
        .fold(0.0, f64::max)
}

async fn text_of(client: &Client, css: &str) -> String {
    client
        .find(Locator::Css(css))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dashboard_charts_editing_and_search() {
    if !chromedriver_available() || !have("ffmpeg") {
        platform_support::skip_or_fail_in_ci("chromedriver or ffmpeg is not on PATH");
        return;
    }
    let app = Running::start_tuned(None, None, streamly::web::UiConfig::default(), |c| {
        c.analytics.sample_period = Duration::from_secs(2);
    })
    .await;
    let base = app.base.clone();
    let name = format!("dash{}", unique());
    let (token, created) = streamer_with_stream(&base, &name, "Charts at a glance").await;
    let id = created["id"].as_str().unwrap().to_owned();
    let me = http("GET", &format!("{base}/api/auth/me"), Some(&token), None).await;
    let mut ffmpeg = publish(
        &format!(
            "{}/{}",
            created["rtmp_url"].as_str().unwrap(),
            created["stream_key"].as_str().unwrap()
        ),
        true,
    );
    let playlist = format!("{base}/hls/{id}/index.m3u8");
    wait_for_playlist(&playlist).await;
    // Three players with their session ids.
    let stop = CancellationToken::new();
    let players: Vec<_> = (0..3)
        .map(|i| {
            player(
                playlist.clone(),
                format!("browser-test-{i}-{}", unique()),
                stop.clone(),
            )
        })
        .collect();

    let driver = start_chromedriver().await;
    let client = browser_sized(&driver, (1280, 2400)).await;
    client.goto(&format!("{base}/signin")).await.unwrap();
    adopt_session(&client, &json!({"token": token, "user": me.body})).await;
    client.goto(&format!("{base}/dashboard")).await.unwrap();

    // The live stream's charts fill in: bitrate every 2 s, viewers every 5 s.
    let bitrate = wait_for("a bitrate chart with values", Duration::from_secs(30), || async {
        let c = chart(&client, "bitrate-chart").await;
        (c["line"] == true && c["values"].as_array()?.len() >= 3 && max_value(&c) > 0.0).then_some(c)
    })
    .await;
    let viewers = wait_for(
        "a viewers chart with 3 viewers",
        Duration::from_secs(30),
        || async {
            let c = chart(&client, "viewers-chart").await;
            (c["line"] == true && max_value(&c) >= 3.0).then_some(c)
        },
    )
    .await;
    eprintln!("bitrate chart: {bitrate}");
    eprintln!("viewers chart: {viewers}");
    assert!(
        bitrate["caption"].as_str().unwrap().contains("kbit/s now"),
        "{bitrate}"
    );
    assert!(
        viewers["ticks"].as_u64().unwrap() >= 4,
        "axes have labels: {viewers}"
    );
    let peak = js(
        &client,
        "return [...document.querySelectorAll('#analytics-figures dt')] \
         .find(dt => dt.textContent === 'Peak').nextElementSibling.textContent",
    )
    .await;
    assert_eq!(peak, json!("3"));
    save(&client, "dashboard-charts").await;

    // Edit on the dashboard: title, description, tags.
    let edit = wait_for("the Edit button", Duration::from_secs(10), || async {
        let buttons = client.find_all(Locator::Css("#streams-body button")).await.ok()?;
        for b in buttons {
            if b.text().await.ok()? == "Edit" {
                return Some(b);
            }
        }
        None
    })
    .await;
    edit.click().await.unwrap();
    let title = client.find(Locator::Id("edit-title")).await.unwrap();
    title.clear().await.unwrap();
    title.send_keys("Renamed in the dashboard").await.unwrap();
    client
        .find(Locator::Id("edit-description"))
        .await
        .unwrap()
        .send_keys("Speedrunning the fixture.")
        .await
        .unwrap();
    client
        .find(Locator::Id("edit-tags"))
        .await
        .unwrap()
        .send_keys("speedrun, fixture")
        .await
        .unwrap();
    client
        .find(Locator::Css("#edit-form button[type=submit]"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    wait_for("the saved title", Duration::from_secs(10), || async {
        let r = http("GET", &format!("{base}/api/streams/{id}"), None, None).await;
        (r.body["title"] == "Renamed in the dashboard").then_some(())
    })
    .await;

    // The watch page shows them; a rename while it is open reaches it.
    client.goto(&format!("{base}/watch/{id}")).await.unwrap();
    wait_for("the watch page's title", Duration::from_secs(10), || async {
        (text_of(&client, "#title").await == "Renamed in the dashboard").then_some(())
    })
    .await;
    assert_eq!(
        text_of(&client, "#description").await,
        "Speedrunning the fixture."
    );
    let tags = js(
        &client,
        "return [...document.querySelectorAll('#tags li')].map(li => li.textContent)",
    )
    .await;
    assert_eq!(tags, json!(["#speedrun", "#fixture"]));
    let r = http(
        "PATCH",
        &format!("{base}/api/streams/{id}"),
        Some(&token),
        Some(json!({"title": "Renamed again"})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    wait_for(
        "the open watch page to follow",
        Duration::from_secs(12),
        || async { (text_of(&client, "#title").await == "Renamed again").then_some(()) },
    )
    .await;

    // Search on the home page finds it by title and by streamer.
    for q in ["renamed", name.as_str()] {
        client.goto(&format!("{base}/")).await.unwrap();
        let input = client.find(Locator::Id("search-q")).await.unwrap();
        input.send_keys(q).await.unwrap();
        client
            .find(Locator::Css("#discover button[type=submit]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        wait_for("the stream in the results", Duration::from_secs(10), || async {
            let titles = js(
                &client,
                "return [...document.querySelectorAll('#streams a.title')].map(a => a.textContent)",
            )
            .await;
            titles
                .as_array()?
                .iter()
                .any(|t| t == "Renamed again")
                .then_some(())
        })
        .await;
    }

    stop.cancel();
    for p in players {
        p.await.unwrap();
    }
    client.close().await.unwrap();
    ffmpeg.kill().await.ok();
    app.stop().await;
}
