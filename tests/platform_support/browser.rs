//! Headless Debian Chromium through chromedriver, for the browser tests.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

use super::wait_for;

const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--autoplay-policy=no-user-gesture-required",
];

/// The window of [`browser`]: width, height.
const WINDOW: (u32, u32) = (1280, 900);

/// A running chromedriver, killed on drop.
pub struct Driver {
    child: tokio::process::Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// Whether chromedriver is on PATH.
pub fn chromedriver_available() -> bool {
    std::process::Command::new("chromedriver")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Starts chromedriver on a free port and waits until it listens. Also
/// picks rustls' ring provider for the process (fantoccini's TLS stack and
/// sqlx each bring one).
pub async fn start_chromedriver() -> Driver {
    let _ = rustls::crypto::ring::default_provider().install_default();
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

/// A new browser session (its own profile: its own localStorage).
pub async fn browser(driver: &Driver) -> Client {
    browser_sized(driver, WINDOW).await
}

/// [`browser`] with a window of `(width, height)` (a tall one screenshots
/// a whole page).
pub async fn browser_sized(driver: &Driver, (width, height): (u32, u32)) -> Client {
    let mut caps = serde_json::Map::new();
    let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| (*a).to_owned()).collect();
    args.push(format!("--window-size={width},{height}"));
    let mut options = json!({ "args": args });
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

/// Runs a script in the page and returns what it returns.
pub async fn js(client: &Client, script: &str) -> Value {
    client.execute(script, vec![]).await.expect("script")
}

/// Types `text` into the element `css` names, after clearing it.
pub async fn fill(client: &Client, css: &str, text: &str) {
    let input = client.wait().for_element(Locator::Css(css)).await.expect(css);
    input.clear().await.expect("clear");
    input.send_keys(text).await.expect("type");
}

/// Clicks the element `css` names, once it exists.
pub async fn click(client: &Client, css: &str) {
    client
        .wait()
        .for_element(Locator::Css(css))
        .await
        .expect(css)
        .click()
        .await
        .expect("click");
}

/// The text of the element `css` names, once it is not empty (10 s at
/// most).
pub async fn wait_text(client: &Client, css: &str) -> String {
    wait_for(css, Duration::from_secs(10), || async {
        let text = client.find(Locator::Css(css)).await.ok()?.text().await.ok()?;
        (!text.is_empty()).then_some(text)
    })
    .await
}

/// Where screenshots go: `<target>/tmp/browser-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("browser-screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// Saves a screenshot of the page as `<name>.png` and prints its path.
pub async fn save(client: &Client, name: &str) {
    let png = client.screenshot().await.expect("screenshot");
    let path = screenshot_dir().join(format!("{name}.png"));
    std::fs::write(&path, png).expect("write screenshot");
    eprintln!("screenshot: {}", path.display());
}

/// Signs up `name` through the sign-up page; returns on the dashboard.
pub async fn sign_up(client: &Client, base: &str, name: &str) {
    client.goto(&format!("{base}/signup")).await.expect("signup page");
    fill(client, "#username", name).await;
    fill(client, "#email", &format!("{name}@example.com")).await;
    fill(client, "#password", "correct horse").await;
    click(client, "#auth-form button[type=submit]").await;
    wait_for("the dashboard after sign-up", Duration::from_secs(15), || async {
        let url = client.current_url().await.ok()?;
        (url.path() == "/dashboard").then_some(())
    })
    .await;
}

/// The session the sign-in page would save (app.js's `saveSession`), from
/// an `AuthResponse`; the page must be on the platform's origin.
pub async fn adopt_session(client: &Client, auth: &Value) {
    let save = format!(
        "localStorage.setItem('streamly.token', {}); localStorage.setItem('streamly.user', JSON.stringify({})); return true",
        auth["token"], auth["user"]
    );
    js(client, &save).await;
}
