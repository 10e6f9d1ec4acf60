//! Debian's Chromium driven through chromedriver, for the console's browser
//! tests: the W3C WebDriver commands those tests use, as JSON over loopback
//! HTTP with the reqwest client the tests already have. (A WebDriver crate
//! would bring some thirty crates, over a minute of the CI budget, for these
//! few calls.)

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

pub const CHROMIUM: &str = "/usr/bin/chromium";
pub const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
/// The key WebDriver types for Tab and Enter (W3C WebDriver, "Keyboard actions").
pub const TAB: char = '\u{E004}';
pub const ENTER: char = '\u{E007}';
/// The property naming an element in WebDriver answers.
const ELEMENT_KEY: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A headless Chromium session, with its chromedriver and its own profile;
/// both end when it is dropped.
pub struct Browser {
    driver: Child,
    http: reqwest::Client,
    /// `http://127.0.0.1:{port}/session/{id}`.
    session: String,
    _profile: tempfile::TempDir,
}

/// A WebDriver command that failed: its `error` code and message.
#[derive(Debug)]
pub struct CommandError {
    pub error: String,
    pub message: String,
}

impl std::fmt::Display for CommandError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.error, self.message)
    }
}

impl Browser {
    /// Starts chromedriver on a free port and a Chromium session in it, `width` × `height`.
    pub async fn start(width: u32, height: u32) -> Browser {
        for tool in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                Path::new(tool).exists(),
                "{tool} is missing: install Debian's chromium and chromium-driver (tests/run does)"
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().unwrap();
        // Without the background-networking flags Chromium keeps calling Google's
        // hosts, which a closed network refuses.
        let capabilities = json!({"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }});
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(30);
        let session_id = loop {
            let started =
                http.post(format!("{base}/session")).json(&json!({"capabilities": capabilities})).send().await;
            let answer = match started {
                Ok(response) => response.json::<Value>().await.ok(),
                Err(_) => None,
            };
            if let Some(id) = answer.as_ref().and_then(|a| a["value"]["sessionId"].as_str()) {
                break id.to_owned();
            }
            assert!(Instant::now() < deadline, "chromedriver did not start a Chromium session: {answer:?}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        Browser { driver, http, session: format!("{base}/session/{session_id}"), _profile: profile }
    }

    /// Runs one command: `GET` without a body, `POST` with one. Answers its `value`.
    async fn command(&self, body: Option<Value>, path: &str) -> Result<Value, CommandError> {
        let url = format!("{}{path}", self.session);
        let request = match body {
            Some(body) => self.http.post(url).json(&body),
            None => self.http.get(url),
        };
        let response = request
            .send()
            .await
            .map_err(|error| CommandError { error: "no answer".into(), message: error.to_string() })?;
        let mut answer: Value = response.json().await.unwrap_or(Value::Null);
        let value = answer["value"].take();
        match value["error"].as_str() {
            Some(error) => Err(CommandError { error: error.into(), message: text(&value["message"]) }),
            None => Ok(value),
        }
    }

    pub async fn goto(&self, url: &str) {
        self.command(Some(json!({"url": url})), "/url").await.expect("the page loads");
    }

    /// The page's path and query (`/console/instances?notice=created`).
    pub async fn path(&self) -> String {
        let url = self.command(None, "/url").await.expect("a URL");
        let url = reqwest::Url::parse(url.as_str().unwrap_or_default()).expect("a URL");
        match url.query() {
            Some(query) => format!("{}?{query}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// The page's HTML as the browser holds it now.
    pub async fn source(&self) -> String {
        text(&self.command(None, "/source").await.expect("the source"))
    }

    /// The first element matching the CSS selector.
    pub async fn find(&self, css: &str) -> Result<Element<'_>, CommandError> {
        let found = self.command(Some(json!({"using": "css selector", "value": css})), "/element").await?;
        Ok(Element { browser: self, id: text(&found[ELEMENT_KEY]) })
    }

    pub async fn find_all(&self, css: &str) -> Vec<Element<'_>> {
        let found = self.command(Some(json!({"using": "css selector", "value": css})), "/elements").await;
        let found = found.unwrap_or_default();
        found.as_array().into_iter().flatten().map(|e| Element { browser: self, id: text(&e[ELEMENT_KEY]) }).collect()
    }

    /// The element that has the keyboard focus.
    pub async fn focused(&self) -> Element<'_> {
        let found = self.command(None, "/element/active").await.expect("a focused element");
        Element { browser: self, id: text(&found[ELEMENT_KEY]) }
    }

    /// The viewport as a PNG.
    pub async fn screenshot(&self) -> Vec<u8> {
        let encoded = self.command(None, "/screenshot").await.expect("a screenshot");
        base64::engine::general_purpose::STANDARD.decode(text(&encoded)).expect("base64")
    }

    pub async fn set_window_size(&self, width: u32, height: u32) {
        self.command(Some(json!({"width": width, "height": height})), "/window/rect").await.expect("resized");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// An element of the page.
pub struct Element<'a> {
    browser: &'a Browser,
    id: String,
}

impl Element<'_> {
    async fn command(&self, body: Option<Value>, what: &str) -> Result<Value, CommandError> {
        self.browser.command(body, &format!("/element/{}{what}", self.id)).await
    }

    pub async fn click(&self) {
        self.command(Some(json!({})), "/click").await.expect("clicked");
    }

    pub async fn clear(&self) {
        self.command(Some(json!({})), "/clear").await.expect("cleared");
    }

    /// Types `keys` into the element (which takes the focus first).
    pub async fn send_keys(&self, keys: &str) {
        self.command(Some(json!({"text": keys})), "/value").await.expect("typed");
    }

    /// Its rendered text.
    pub async fn text(&self) -> String {
        text(&self.command(None, "/text").await.unwrap_or_default())
    }

    /// A DOM property (`value` of an input).
    pub async fn property(&self, name: &str) -> String {
        text(&self.command(None, &format!("/property/{name}")).await.unwrap_or_default())
    }

    /// A computed CSS value (`display`).
    pub async fn css(&self, name: &str) -> String {
        text(&self.command(None, &format!("/css/{name}")).await.unwrap_or_default())
    }

    /// Where it is drawn and how large, in CSS pixels: `(x, y, width, height)`.
    pub async fn rect(&self) -> (f64, f64, f64, f64) {
        let rect = self.command(None, "/rect").await.expect("a rectangle");
        let number = |name: &str| rect[name].as_f64().unwrap_or_default();
        (number("x"), number("y"), number("width"), number("height"))
    }

    pub async fn is_selected(&self) -> bool {
        self.command(None, "/selected").await.ok().and_then(|selected| selected.as_bool()).unwrap_or(false)
    }
}

fn text(value: &Value) -> String {
    value.as_str().map(str::to_owned).unwrap_or_default()
}
