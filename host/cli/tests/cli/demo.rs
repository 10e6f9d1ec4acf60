//! `autotask-events demo` as a user runs it: the resources it is told to poll,
//! and a plugin dropped into its plugin directory for a resource it does not
//! poll yet, whose events then reach the demo's receiver (its printed lines).

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use builtin_plugin::INCIDENTS_WASM;

/// How long a test waits for a line.
const WAIT: Duration = Duration::from_secs(60);

/// A running demo, killed when dropped, and every line it printed so far.
struct Demo {
    child: Child,
    stdout: Arc<Mutex<Vec<String>>>,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn collect(stream: impl std::io::Read + Send + 'static) -> Arc<Mutex<Vec<String>>> {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stream).lines().map_while(Result::ok) {
            sink.lock().unwrap().push(line);
        }
    });
    lines
}

impl Demo {
    /// `demo` with a short interval and much churn, its plugins in `plugin_dir`.
    fn start(plugin_dir: &Path, more: &[&str]) -> Demo {
        let plugin_dir = plugin_dir.to_str().expect("a UTF-8 temporary path");
        let args = ["--for", "120s", "--interval", "0.5", "--churn", "1200", "--plugin-dir", plugin_dir];
        Demo::spawn(&[&args[..], more].concat())
    }

    /// `demo` with exactly `args`.
    fn spawn(args: &[&str]) -> Demo {
        let mut child = Command::new(env!("CARGO_BIN_EXE_autotask-events"))
            .arg("demo")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary runs");
        let stdout = collect(child.stdout.take().unwrap());
        let stderr = collect(child.stderr.take().unwrap());
        Demo { child, stdout, stderr }
    }

    fn lines(&self) -> Vec<String> {
        self.stdout.lock().unwrap().clone()
    }

    /// Waits until a printed line meets `check`; panics with the output after [`WAIT`].
    fn wait_for(&mut self, what: &str, check: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(line) = self.lines().into_iter().find(|line| check(line)) {
                return line;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!("the demo ended ({status}) before {what}:\n{}\n{}", self.output(), self.errors());
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}:\n{}\n{}", self.output(), self.errors());
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn output(&self) -> String {
        self.lines().join("\n")
    }

    fn errors(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }
}

/// Whether `line` is an event line for `resource`: `12:00:03  Demo  UPDATED  accounts   #7  ...`.
fn is_event_of(line: &str, resource: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    words.len() >= 5
        && words[1] == "Demo"
        && ["CREATED", "UPDATED", "DELETED"].contains(&words[2])
        && words[3] == resource
        && words[4].starts_with('#')
}

/// Writes a plugin file as an installer does: beside it, hidden, then renamed into place.
fn drop_plugin(dir: &Path, name: &str, bytes: &[u8]) {
    let partial = dir.join(format!(".{name}.partial"));
    std::fs::write(&partial, bytes).unwrap();
    std::fs::rename(&partial, dir.join(name)).unwrap();
}

#[test]
fn demo_polls_the_resources_it_is_told_to() {
    let plugins = tempfile::tempdir().unwrap();
    let mut demo = Demo::start(plugins.path(), &["--resources", "accounts,notes"]);
    demo.wait_for("the banner", |line| line.contains("polling accounts (Companies), notes (TicketNotes) every 0.5s"));
    demo.wait_for("an accounts event", |line| is_event_of(line, "accounts"));
    demo.wait_for("a notes event", |line| is_event_of(line, "notes"));
    // The built-in incidents plugin is in the directory from the start, but was not asked for.
    assert!(plugins.path().join("incidents.wasm").exists());
    assert!(!demo.lines().iter().any(|line| is_event_of(line, "incidents")), "{}", demo.output());
    assert!(
        plugins.path().join("accounts.wasm").exists() && plugins.path().join("notes.wasm").exists(),
        "each resource got a copy of the built-in plugin"
    );

    let refused = Command::new(env!("CARGO_BIN_EXE_autotask-events"))
        .args(["demo", "--for", "1s", "--resources", "incidents,tickets"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let error = String::from_utf8_lossy(&refused.stderr);
    assert!(
        error.contains("unknown resource `tickets`") && error.contains("incidents, accounts, contacts, notes"),
        "{error}"
    );
}

#[test]
fn a_plugin_dropped_in_for_a_new_resource_makes_the_demo_poll_it() {
    let plugins = tempfile::tempdir().unwrap();
    let mut demo = Demo::start(plugins.path(), &["--resources", "incidents"]);
    demo.wait_for("the banner", |line| line.contains("drop a plugin for a new resource here"));
    demo.wait_for("an incidents event", |line| is_event_of(line, "incidents"));
    assert!(!demo.lines().iter().any(|line| is_event_of(line, "accounts")), "{}", demo.output());

    // A resource the demo knows by name: accounts are Companies.
    drop_plugin(plugins.path(), "accounts.wasm", INCIDENTS_WASM);
    demo.wait_for("accounts to be added", |line| {
        line.contains("plugin accounts.wasm loaded: now polling accounts (Companies)")
    });
    demo.wait_for("an accounts event", |line| is_event_of(line, "accounts"));

    // A name the demo does not know: the plugin's description says what it maps (Tickets).
    drop_plugin(plugins.path(), "escalations.wasm", INCIDENTS_WASM);
    demo.wait_for("escalations to be added", |line| {
        line.contains("plugin escalations.wasm loaded: now polling escalations (Tickets)")
    });
    demo.wait_for("an escalations event", |line| is_event_of(line, "escalations"));
    // Adding resources restarted the instance; incidents go on from their watermark.
    let stdout = demo.stdout.clone();
    let incidents = move || stdout.lock().unwrap().iter().filter(|line| is_event_of(line, "incidents")).count();
    let before = incidents();
    demo.wait_for("more incidents events", |_| incidents() > before);
}

#[test]
fn with_push_events_arrive_long_before_the_next_poll() {
    let plugins = tempfile::tempdir().unwrap();
    let plugin_dir = plugins.path().to_str().unwrap();
    // Polled once at the start, then a minute later: events before that came by push.
    let args = ["--for", "120s", "--interval", "60", "--churn", "600", "--push", "--resources", "incidents"];
    let mut demo = Demo::spawn(&[&args[..], &["--plugin-dir", plugin_dir]].concat());
    demo.wait_for("the banner", |line| line.contains("the simulator calls out to http://"));
    let started = Instant::now();
    demo.wait_for("a pushed incidents event", |line| is_event_of(line, "incidents"));
    assert!(
        started.elapsed() < Duration::from_secs(40),
        "pushed, not polled: {:?}\n{}",
        started.elapsed(),
        demo.output()
    );
    assert!(!demo.output().contains("!!"), "every signature valid:\n{}", demo.output());
}
