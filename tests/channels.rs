//! Channels over real HTTP (issue 14): profiles, avatar uploads (valid PNG
//! and JPEG accepted, re-encoded and served with cache headers; 10 MB, a
//! non-image, a wrong type and a decompression bomb refused with JSON
//! errors), follows and the "following" list with live channels first
//! (the live part needs ffmpeg: it skips saying why, except under
//! `CI=true`).
#![allow(clippy::unwrap_used)]

mod platform_support;

use std::io::Cursor;
use std::time::Duration;

use bytes::Bytes;
use image::{DynamicImage, GrayImage, ImageFormat, RgbImage, RgbaImage};
use platform_support::{
    Running, have, http, http_raw, publish, register, skip_or_fail_in_ci, streamer_with_stream, unique,
    wait_for,
};
use serde_json::{Value, json};

fn encode(image: DynamicImage, format: ImageFormat) -> Bytes {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).unwrap();
    out.into_inner().into()
}

fn assert_error(reply: &platform_support::RawReply, status: u16, code: &str) {
    assert_eq!(reply.status, status, "{:?}", String::from_utf8_lossy(&reply.body));
    assert_eq!(reply.header("content-type"), "application/json");
    assert_eq!(reply.json()["error"]["code"], code, "{:?}", reply.json());
    assert!(
        reply.json()["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty())
    );
}

#[tokio::test]
async fn profiles_and_avatars() {
    let running = Running::start(None).await;
    let base = running.base.clone();
    let name = format!("ann{}", unique());
    let (token, _stream) = streamer_with_stream(&base, &name, "Ann's stream").await;

    let channel = http("GET", &format!("{base}/api/users/{name}"), None, None).await;
    assert_eq!(channel.status, 200, "{}", channel.text);
    assert_eq!(channel.body["username"], name.as_str());
    assert_eq!(channel.body["display_name"], "");
    assert_eq!(channel.body["avatar_url"], Value::Null);
    assert_eq!(channel.body["followers"], 0);
    assert_eq!(channel.body["followed_by_you"], Value::Null, "no token");
    assert_eq!(channel.body["streams"].as_array().unwrap().len(), 1);
    let upper = http(
        "GET",
        &format!("{base}/api/users/{}", name.to_uppercase()),
        None,
        None,
    )
    .await;
    assert_eq!(upper.status, 200, "usernames are found in any case");
    for missing in ["nobody_here", "bad!name", "x"] {
        let r = http("GET", &format!("{base}/api/users/{missing}"), None, None).await;
        assert_eq!(
            (r.status, r.body["error"]["code"].as_str()),
            (404, Some("not_found")),
            "{missing}"
        );
    }

    let profile_url = format!("{base}/api/profile");
    let r = http(
        "PATCH",
        &profile_url,
        Some(&token),
        Some(json!({"display_name": "  Ann the Streamer ", "bio": "Speedruns.\nSundays at 8."})),
    )
    .await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body["display_name"], "Ann the Streamer");
    assert_eq!(r.body["bio"], "Speedruns.\nSundays at 8.");
    let r = http(
        "PATCH",
        &profile_url,
        Some(&token),
        Some(json!({"bio": "only the bio"})),
    )
    .await;
    assert_eq!(
        r.body["display_name"], "Ann the Streamer",
        "an absent field is kept"
    );
    for (body, field) in [
        (json!({"display_name": "two\nlines"}), "display_name"),
        (json!({"display_name": "x".repeat(51)}), "display_name"),
        (json!({"bio": "é".repeat(501)}), "bio"),
        (json!({"bio": "hidden\u{202E}text"}), "bio"),
    ] {
        let r = http("PATCH", &profile_url, Some(&token), Some(body)).await;
        assert_eq!(r.status, 422, "{}", r.text);
        assert_eq!(r.body["error"]["field"], field, "{}", r.text);
    }
    let r = http("PATCH", &profile_url, None, Some(json!({"bio": "x"}))).await;
    assert_eq!(r.status, 401);

    // A valid PNG: cropped to a square, scaled to 256, served with a
    // version in its URL, an ETag and a long cache lifetime.
    let avatar_url = format!("{base}/api/profile/avatar");
    let png = encode(
        RgbaImage::from_pixel(640, 480, image::Rgba([200, 30, 30, 255])).into(),
        ImageFormat::Png,
    );
    let r = http_raw(
        "PUT",
        &avatar_url,
        Some(&token),
        &[("content-type", "image/png")],
        png,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let served = r.json()["avatar_url"].as_str().unwrap().to_owned();
    assert!(
        served.starts_with(&format!("{base}/api/users/{name}/avatar?v=")),
        "{served}"
    );
    let image = http_raw("GET", &served, None, &[], Bytes::new()).await;
    assert_eq!(image.status, 200);
    assert_eq!(image.header("content-type"), "image/png");
    assert_eq!(image.header("cache-control"), "public, max-age=86400");
    let decoded = image::load_from_memory(&image.body).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (256, 256));
    let etag = image.header("etag").to_owned();
    assert!(!etag.is_empty());
    let again = http_raw("GET", &served, None, &[("if-none-match", &etag)], Bytes::new()).await;
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());

    // A JPEG replaces it, with a new URL.
    let jpeg = encode(
        RgbImage::from_pixel(100, 300, image::Rgb([20, 90, 200])).into(),
        ImageFormat::Jpeg,
    );
    let r = http_raw(
        "PUT",
        &avatar_url,
        Some(&token),
        &[("content-type", "image/jpeg")],
        jpeg,
    )
    .await;
    assert_eq!(r.status, 200, "{:?}", r.json());
    let served_jpeg = r.json()["avatar_url"].as_str().unwrap().to_owned();
    assert_ne!(served_jpeg, served);
    let image = http_raw("GET", &served_jpeg, None, &[], Bytes::new()).await;
    assert_eq!(image.header("content-type"), "image/jpeg");
    let decoded = image::load_from_memory(&image.body).unwrap();
    assert_eq!((decoded.width(), decoded.height()), (100, 100));

    // Refused, each with a JSON error; the JPEG stays.
    let ten_mb = Bytes::from(vec![0x89; 10 * 1024 * 1024]);
    let r = http_raw(
        "PUT",
        &avatar_url,
        Some(&token),
        &[("content-type", "image/png")],
        ten_mb,
    )
    .await;
    assert_error(&r, 413, "payload_too_large");
    let text = Bytes::from_static(b"<svg xmlns='http://www.w3.org/2000/svg'/>");
    let r = http_raw(
        "PUT",
        &avatar_url,
        Some(&token),
        &[("content-type", "image/png")],
        text.clone(),
    )
    .await;
    assert_error(&r, 422, "validation_failed");
    assert_eq!(r.json()["error"]["field"], "avatar");
    let r = http_raw(
        "PUT",
        &avatar_url,
        Some(&token),
        &[("content-type", "image/svg+xml")],
        text,
    )
    .await;
    assert_error(&r, 415, "unsupported_media_type");
    let bomb = encode(GrayImage::new(8192, 8192).into(), ImageFormat::Png);
    assert!(
        bomb.len() < 1024 * 1024,
        "the bomb fits under the size cap: {} bytes",
        bomb.len()
    );
    let r = http_raw(
        "PUT",
        &avatar_url,
        Some(&token),
        &[("content-type", "image/png")],
        bomb,
    )
    .await;
    assert_error(&r, 422, "validation_failed");
    assert!(
        r.json()["error"]["message"].as_str().unwrap().contains("4096"),
        "{:?}",
        r.json()
    );
    let r = http_raw(
        "PUT",
        &avatar_url,
        None,
        &[("content-type", "image/png")],
        Bytes::new(),
    )
    .await;
    assert_error(&r, 401, "unauthenticated");
    let channel = http("GET", &format!("{base}/api/users/{name}"), None, None).await;
    assert_eq!(
        channel.body["avatar_url"],
        served_jpeg.as_str(),
        "refusals changed nothing"
    );

    let r = http_raw("DELETE", &avatar_url, Some(&token), &[], Bytes::new()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["avatar_url"], Value::Null);
    let gone = http_raw("GET", &served_jpeg, None, &[], Bytes::new()).await;
    assert_error(&gone, 404, "not_found");
    running.stop().await;
}

#[tokio::test]
async fn follows_and_the_following_list() {
    let running = Running::start(None).await;
    let base = running.base.clone();
    let suffix = unique();
    let (ann, carl) = (format!("ann{suffix}"), format!("carl{suffix}"));
    let (ann_token, _) = streamer_with_stream(&base, &ann, "Ann's stream").await;
    streamer_with_stream(&base, &carl, "Carl's stream").await;
    let ben = format!("ben{suffix}");
    let (ben_token, _) = register(&base, &ben).await;

    let follow = |who: String| format!("{base}/api/users/{who}/follow");
    let r = http("PUT", &follow(ann.clone()), Some(&ben_token), None).await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.body, json!({"following": true, "followers": 1}));
    let r = http("PUT", &follow(ann.clone()), Some(&ben_token), None).await;
    assert_eq!(
        r.body,
        json!({"following": true, "followers": 1}),
        "following again changes nothing"
    );
    let r = http("PUT", &follow(ann.clone()), Some(&ann_token), None).await;
    assert_eq!(
        (r.status, r.body["error"]["code"].as_str()),
        (409, Some("conflict")),
        "yourself"
    );
    let r = http("PUT", &follow(ann.clone()), None, None).await;
    assert_eq!(r.status, 401);
    let r = http("PUT", &follow("nobody_here".into()), Some(&ben_token), None).await;
    assert_eq!(r.status, 404);
    tokio::time::sleep(Duration::from_millis(5)).await;
    let r = http("PUT", &follow(carl.clone()), Some(&ben_token), None).await;
    assert_eq!(r.status, 200, "{}", r.text);

    let channel = http("GET", &format!("{base}/api/users/{ann}"), Some(&ben_token), None).await;
    assert_eq!(channel.body["followed_by_you"], true);
    assert_eq!(channel.body["followers"], 1);
    let channel = http("GET", &format!("{base}/api/users/{ann}"), Some(&ann_token), None).await;
    assert_eq!(channel.body["followed_by_you"], false);
    let r = http(
        "GET",
        &format!("{base}/api/users/{ann}"),
        Some("not-a-token"),
        None,
    )
    .await;
    assert_eq!(r.status, 401, "a bad token is refused, not ignored");
    let r = http("GET", &format!("{base}/api/users/{ben}"), None, None).await;
    assert_eq!(r.body["following"], 2);

    let following_url = format!("{base}/api/following");
    let names_in = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|e| e["channel"]["username"].as_str().unwrap().to_owned())
            .collect()
    };
    let list = http("GET", &following_url, Some(&ben_token), None).await;
    assert_eq!(list.status, 200, "{}", list.text);
    assert_eq!(
        names_in(&list.body),
        vec![carl.clone(), ann.clone()],
        "offline: most recently followed first"
    );
    assert_eq!(http("GET", &following_url, None, None).await.status, 401);

    if have("ffmpeg") {
        // Ann goes live: she comes first though followed earlier.
        let ann_streams = http("GET", &format!("{base}/api/streams/mine"), Some(&ann_token), None).await;
        let ann_stream_id = ann_streams.body[0]["id"].as_str().unwrap().to_owned();
        let key = http(
            "POST",
            &format!("{base}/api/streams/{ann_stream_id}/key"),
            Some(&ann_token),
            None,
        )
        .await;
        assert_eq!(key.status, 200, "{}", key.text);
        let url = format!(
            "{}/{}",
            key.body["rtmp_url"].as_str().unwrap(),
            key.body["stream_key"].as_str().unwrap()
        );
        let mut ffmpeg = publish(&url, true);
        let live = wait_for(
            "ann to be live in ben's following list",
            Duration::from_secs(20),
            || {
                let url = following_url.clone();
                let token = ben_token.clone();
                async move {
                    let list = http("GET", &url, Some(&token), None).await;
                    (list.body[0]["live"] == true).then_some(list.body)
                }
            },
        )
        .await;
        assert_eq!(names_in(&live), vec![ann.clone(), carl.clone()], "live first");
        assert_eq!(live[0]["live_streams"][0]["id"], ann_stream_id.as_str());
        assert!(live[0]["live_streams"][0]["thumbnail_url"].is_string());
        assert_eq!(live[1]["live"], false);
        assert_eq!(live[1]["live_streams"], json!([]));
        ffmpeg.kill().await.unwrap();
    } else {
        skip_or_fail_in_ci("ffmpeg is not installed (the live part of the following list)");
    }

    let r = http("DELETE", &follow(ann.clone()), Some(&ben_token), None).await;
    assert_eq!(r.body, json!({"following": false, "followers": 0}));
    let r = http("DELETE", &follow(ann.clone()), Some(&ben_token), None).await;
    assert_eq!(
        r.body,
        json!({"following": false, "followers": 0}),
        "unfollowing again changes nothing"
    );

    // An account deleted: its follows go with it.
    let r = http("DELETE", &format!("{base}/api/auth/me"), Some(&ben_token), None).await;
    assert_eq!(r.status, 204);
    let r = http("GET", &format!("{base}/api/users/{carl}"), None, None).await;
    assert_eq!(r.body["followers"], 0);
    running.stop().await;
}
