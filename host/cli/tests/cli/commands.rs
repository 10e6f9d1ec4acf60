//! The `autotask-events plugin` commands, run as a user runs them.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use builtin_plugin::INCIDENTS_WASM;
use engine::dates::parse_instant;
use serde_json::{Value, json};
use support::MISBEHAVING_WASM;
use support::service::TEST_COMPILE_CACHE;

fn autotask_events(args: &[&str], stdin: Option<&str>) -> Output {
    // A directory of its own, for what a command writes where it runs (`plugin check`'s compile cache).
    let cwd = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_autotask-events"))
        .args(args)
        .current_dir(cwd.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let mut input = child.stdin.take().expect("stdin is piped");
    input.write_all(stdin.unwrap_or("").as_bytes()).expect("stdin takes the input");
    drop(input);
    child.wait_with_output().expect("the binary finishes")
}

fn stdout_json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e}); stderr: {}", String::from_utf8_lossy(&output.stderr)))
}

fn init_plugin_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let output = autotask_events(&["plugin", "init", dir.path().to_str().unwrap()], None);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    dir
}

fn plugin_path(dir: &Path) -> String {
    dir.join("incidents.wasm").display().to_string()
}

const EXAMPLE_TICKETS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/tickets.json");

#[test]
fn init_writes_the_built_in_plugin_and_will_not_overwrite_without_force() {
    let dir = init_plugin_dir();
    assert_eq!(std::fs::read(dir.path().join("incidents.wasm")).unwrap(), INCIDENTS_WASM);

    let again = autotask_events(&["plugin", "init", dir.path().to_str().unwrap()], None);
    assert_eq!(again.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&again.stderr).contains("already exists; pass --force to replace it"));

    std::fs::write(dir.path().join("incidents.wasm"), b"old").unwrap();
    let forced = autotask_events(&["plugin", "init", "--force", dir.path().to_str().unwrap()], None);
    assert!(forced.status.success());
    assert_eq!(std::fs::read(dir.path().join("incidents.wasm")).unwrap(), INCIDENTS_WASM);
}

#[test]
fn check_prints_the_events_of_the_example_tickets() {
    let dir = init_plugin_dir();
    let output = autotask_events(
        &[
            "plugin",
            "check",
            &plugin_path(dir.path()),
            "--records",
            EXAMPLE_TICKETS,
            "--previous-poll",
            "2024-05-30T00:00:00Z",
            "--now",
            "2024-06-01T12:00:00Z",
        ],
        None,
    );
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let report = stdout_json(&output);
    let tickets: Vec<Value> = serde_json::from_str(&std::fs::read_to_string(EXAMPLE_TICKETS).unwrap()).unwrap();
    let events = report["events"].as_array().unwrap();
    assert_eq!(events.len(), tickets.len());
    assert_eq!(report["errors"], json!([]));
    for (event, ticket) in events.iter().zip(&tickets) {
        assert_eq!(event["objectId"], json!(ticket["id"].to_string()));
        assert_eq!(event["objectType"], "incidents");
        assert_eq!(event["payload"]["title"], ticket["title"]);
        assert_eq!(event["payload"]["queueId"], ticket["queueID"]);
        let created = parse_instant(ticket["createDate"].as_str().unwrap()).unwrap();
        let updated = parse_instant(ticket["lastActivityDate"].as_str().unwrap()).unwrap();
        let created_after_previous_poll = created > parse_instant("2024-05-30T00:00:00Z").unwrap();
        let never_updated = (updated - created).num_milliseconds().abs() <= 1000;
        let expected = if created_after_previous_poll || never_updated { "CREATED" } else { "UPDATED" };
        assert_eq!(event["eventType"], expected, "ticket {}", ticket["id"]);
    }
}

#[test]
fn check_reads_an_autotask_page_from_stdin_and_reports_bad_records_by_index() {
    let dir = init_plugin_dir();
    let page = json!({"items": [
        {"id": 1, "title": "fine", "createDate": "2024-06-01T10:00:00Z", "lastActivityDate": "2024-06-01T10:00:00Z"},
        {"title": "no id"},
        {"id": 3, "createDate": "last tuesday"},
        {"id": 4, "userDefinedFields": {"not": "a list"}},
    ], "pageDetails": {"count": 4, "requestCount": 500, "prevPageUrl": null, "nextPageUrl": null}});
    let output = autotask_events(
        &["plugin", "check", &plugin_path(dir.path()), "--records", "-", "--previous-poll", "2024-06-01T09:00:00Z"],
        Some(&page.to_string()),
    );
    assert_eq!(output.status.code(), Some(1), "some records failed");
    let report = stdout_json(&output);
    assert_eq!(report["events"].as_array().unwrap().len(), 1);
    assert_eq!(report["events"][0]["eventType"], "CREATED");
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.iter().map(|e| e["index"].as_u64().unwrap()).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(errors[0]["message"], "the record has no `id` field (the resource's idField)");
    let bad_date = errors[1]["message"].as_str().unwrap();
    assert!(bad_date.starts_with("the `createDate` field: cannot parse \"last tuesday\""), "{bad_date}");
    assert!(errors[2]["message"].as_str().unwrap().contains("userDefinedFields is not a list"));
}

#[test]
fn check_maps_another_resource_with_its_own_fields() {
    let dir = init_plugin_dir();
    let accounts = dir.path().join("accounts.wasm");
    std::fs::copy(dir.path().join("incidents.wasm"), &accounts).unwrap();
    let companies = json!([{"id": 7, "companyName": "Contoso", "createDateTime": "2024-01-01T00:00:00Z", "lastModified": "2024-05-01T08:00:00.12Z"}]);
    let output = autotask_events(
        &[
            "plugin",
            "check",
            accounts.to_str().unwrap(),
            "--records",
            "-",
            "--resource",
            "accounts",
            "--created-field",
            "createDateTime",
            "--updated-field",
            "lastModified",
        ],
        Some(&companies.to_string()),
    );
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let event = &stdout_json(&output)["events"][0];
    assert_eq!(event["objectType"], "accounts");
    assert_eq!(event["eventDate"], "2024-05-01T08:00:00.120Z");
    assert_eq!(event["payload"]["createdDate"], "2024-01-01T00:00:00.000Z");
    assert_eq!(event["payload"]["extra"], json!({"companyName": "Contoso"}));
}

#[test]
fn check_exits_2_with_the_reason_when_the_plugin_or_input_is_unusable() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("fake.wasm");
    std::fs::write(&fake, b"MZ not a component").unwrap();
    let output = autotask_events(&["plugin", "check", fake.to_str().unwrap(), "--records", "-"], Some("[]"));
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("plugin `{}` is not a WebAssembly component", fake.display())), "{stderr}");

    let plugins = init_plugin_dir();
    let output =
        autotask_events(&["plugin", "check", &plugin_path(plugins.path()), "--records", "-"], Some("{\"id\": 1}"));
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("neither a JSON array of records nor an Autotask page"));

    let output = autotask_events(
        &["plugin", "check", &plugin_path(plugins.path()), "--records", "-", "--now", "noon"],
        Some("[]"),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--now `noon` is not an RFC 3339 date"));

    let output = autotask_events(
        &["plugin", "check", &plugin_path(plugins.path()), "--records", "-", "--created-format", "yyyy-MM-dd'T"],
        Some("[]"),
    );
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--created-format: date format `yyyy-MM-dd'T`: Unterminated quote"), "{stderr}");
}

#[test]
fn template_render_prints_the_poll_url_at_a_time() {
    let url = "/hubs/helpdesk/incidents?where=lastActivityDate>='${date:yyyy-MM-dd'T'HH:mm:ssZ}'";
    let output = autotask_events(&["template", "render", url, "--at", "2024-06-01T12:34:56.789Z"], None);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "/hubs/helpdesk/incidents?where=lastActivityDate>='2024-06-01T12:34:56+0000'\n"
    );

    let output = autotask_events(
        &["template", "render", "since=${date:yyyy-MM-dd HH:mm z}", "--at", "2024-01-15T08:00:00Z", "--tz", "PST"],
        None,
    );
    assert_eq!(String::from_utf8(output.stdout).unwrap(), "since=2024-01-15 00:00 PST\n");

    let output =
        autotask_events(&["template", "render", "/x?w=${date:yyyy-MM-dd'T}", "--at", "2024-01-15T08:00:00Z"], None);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("poll URL `/x?w=${date:yyyy-MM-dd'T}`, at character 5"), "{stderr}");
}

#[test]
fn template_render_autotask_prints_the_query_the_url_becomes() {
    let url = "/hubs/helpdesk/incidents?where=lastActivityDate>='${date:yyyy-MM-dd'T'HH:mm:ssZ}'";
    let output = autotask_events(&["template", "render", url, "--at", "2024-06-01T12:34:56Z", "--autotask"], None);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        concat!(
            r#"{"entity":"Tickets","body":{"filter":[{"op":"gte","field":"lastActivityDate","#,
            r#""value":"2024-06-01T12:34:56Z"}]}}"#,
            "\n"
        )
    );

    let output = autotask_events(
        &[
            "template",
            "render",
            "/hubs/helpdesk/incidents/42/comments?where=lastActivityDate>='${date:yyyy-MM-dd HH:mm:ss}' or isNew = true",
            "--at",
            "2024-01-15T08:00:00Z",
            "--tz=-8:00",
            "--autotask",
        ],
        None,
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        stdout_json(&output),
        json!({"entity": "TicketNotes", "body": {"filter": [
            {"op": "eq", "field": "ticketID", "value": 42},
            {"op": "or", "items": [
                {"op": "gte", "field": "lastActivityDate", "value": "2024-01-15T00:00:00Z"},
                {"op": "eq", "field": "isNew", "value": true},
            ]},
        ]}}),
        "a date without an offset is read as UTC, whatever --tz rendered it in"
    );
}

#[test]
fn template_render_autotask_exits_1_naming_the_position_of_a_malformed_clause() {
    let url = "/hubs/helpdesk/incidents?where=lastActivityDate>='${date:yyyy-MM-dd'T'HH:mm:ssZ}''";
    let output = autotask_events(&["template", "render", url, "--at", "2024-06-01T12:34:56Z", "--autotask"], None);
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "poll URL `/hubs/helpdesk/incidents?where=lastActivityDate>='2024-06-01T12:34:56+0000''`, at character 49: \
             unterminated string"
        ),
        "{stderr}"
    );

    let output = autotask_events(
        &["template", "render", "/hubs/helpdesk/tickets", "--at", "2024-06-01T12:34:56Z", "--autotask"],
        None,
    );
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("at character 0: unknown hub path `/hubs/helpdesk/tickets`")
    );
}

/// Kills the child when the test ends, pass or fail.
struct Running(std::process::Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn sim_serves_autotask_with_the_credentials_it_prints() {
    use std::io::BufRead;
    let child = Command::new(env!("CARGO_BIN_EXE_autotask-events"))
        .args(["sim", "--listen", "127.0.0.1:0", "--tickets", "12", "--user", "me@example.com"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary runs");
    let mut sim = Running(child);
    let mut lines = std::io::BufReader::new(sim.0.stdout.take().unwrap()).lines();
    let banner: Vec<String> = lines.by_ref().take(5).map(Result::unwrap).collect();
    let url =
        banner[0].strip_prefix("Autotask simulator listening on ").expect("the first line names the URL").to_owned();
    assert!(banner.iter().any(|line| line.contains("me@example.com")), "{banner:?}");
    assert!(banner.iter().any(|line| line.contains("sim-secret")), "{banner:?}");
    assert!(banner.iter().any(|line| line.contains("SIMCODE")), "{banner:?}");

    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use engine::source::filter::{Filter, Op, QueryBody};
        use engine::source::{AutotaskClient, ClientOptions, Connection, Credentials, Secret, ZoneCache};
        let credentials = Credentials {
            username: "me@example.com".into(),
            secret: Secret::new("sim-secret"),
            integration_code: Secret::new("SIMCODE"),
        };
        let connection = Connection { server_url: url, credentials };
        let client = AutotaskClient::new(connection, ClientOptions::default(), ZoneCache::default()).unwrap();
        let body = QueryBody::new(vec![Filter::presence(Op::Exist, "id")]);
        let tickets = client.query_all("Tickets", &body).await.unwrap();
        assert_eq!(tickets.records.len(), 12);
    });
}

#[test]
fn config_check_lists_instances_and_every_problem() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("autotask-events.toml");
    std::fs::write(
        &config,
        r#"
[egress]
allow = ["loopback"]

[server]
plugin_dir = "plugins"
integration_code = "SIMCODE"
allowed_autotask_hosts = ["127.0.0.1:8089"]

[[instance]]
name = "Acme"
element = { key = "autotaskhelpdesk" }
refresh_interval_seconds = 5

[instance.configuration]
"helpdesk.autotask.username" = "sim@example.com"
"helpdesk.autotask.password" = "sim-secret"
"helpdesk.autotask.server.url" = "http://127.0.0.1:8089"
"event.notification.enabled" = true
"event.notification.callback.url" = "http://127.0.0.1:9000/events"

[instance.configuration."event.poller.configuration".incidents]
url = "/hubs/helpdesk/incidents?where=lastActivityDate>='${date:yyyy-MM-dd'T'HH:mm:ssZ}'"
idField = "id"
"#,
    )
    .unwrap();
    let output = autotask_events(&["config", "check", "--config", config.to_str().unwrap()], None);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("instance `acme` (Acme): 1 resource(s), every 5s, events enabled"), "{stdout}");
    assert!(stdout.contains("incidents -> Tickets (built-in plugin"), "{stdout}");
    assert!(!stdout.contains("sim-secret"), "{stdout}");

    // A second resource without a plugin, and a broken poll URL: both reported, exit 1.
    let text = std::fs::read_to_string(&config).unwrap()
        + "\n[instance.configuration.\"event.poller.configuration\".contacts]\nurl = \"/hubs/crm/contacts?where=x >\"\n";
    std::fs::write(&config, text).unwrap();
    let output = autotask_events(&["config", "check", "--config", config.to_str().unwrap()], None);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("instance[0].configuration.\"event.poller.configuration\".contacts.url: poll URL"),
        "{stdout}"
    );

    std::fs::write(&config, std::fs::read_to_string(&config).unwrap().replace("where=x >", "where=id > 0")).unwrap();
    let output = autotask_events(&["config", "check", "--config", config.to_str().unwrap()], None);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("instance[0].plugins.contacts: no plugin for resource `contacts`"), "{stdout}");
}

#[test]
fn the_example_configuration_checks_clean_once_its_secrets_and_contacts_plugin_exist() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let dir = tempfile::tempdir().unwrap();
    for file in ["autotask-events.toml", "instance.json", "ticket.json"] {
        std::fs::copy(examples.join(file), dir.path().join(file)).unwrap();
    }
    std::fs::create_dir_all(dir.path().join("plugins")).unwrap();
    std::fs::write(dir.path().join("plugins/contacts.wasm"), INCIDENTS_WASM).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_autotask-events"))
        .args(["config", "check", "--config"])
        .arg(dir.path().join("autotask-events.toml"))
        .env("AUTOTASK_SECRET", "s1")
        .env("GLOBEX_AUTOTASK_SECRET", "s2")
        .env("AUTOTASK_INTEGRATION_CODE", "CODE")
        .env("AUTOTASK_EVENTS_SIGNATURE_KEY", "k")
        .env("AUTOTASK_EVENTS_USER_SECRET", "user-secret-for-the-example")
        .env("AUTOTASK_EVENTS_ORGANIZATION_SECRET", "organization-secret-for-the-example")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("instance `acme` (API Instance with Polling): 1 resource(s), every 60s"), "{stdout}");
    assert!(stdout.contains("instance `globex` (Globex helpdesk): 2 resource(s), every 60s"), "{stdout}");
    assert!(stdout.contains("contacts -> Contacts"), "{stdout}");
}

#[test]
fn plugin_new_scaffolds_every_language_and_refuses_to_overwrite() {
    let dir = tempfile::tempdir().unwrap();
    for (lang, manifest, source) in [
        ("rust", "Cargo.toml", "src/mapping.rs"),
        ("js", "package.json", "src/mapping.js"),
        ("python", "pyproject.toml", "mapping.py"),
        ("c", "README.md", "src/mapping.c"),
    ] {
        let project = dir.path().join(format!("acme-{lang}"));
        let project_arg = project.to_str().unwrap();
        let name = format!("acme-{lang}");
        let mut args = vec!["plugin", "new", &name, "--lang", lang, "--dir", project_arg];
        if matches!(lang, "js" | "python") {
            args.push("--component"); // the component templates; script plugins are the default
        }
        let output = autotask_events(&args, None);
        assert!(output.status.success(), "{lang}: {}", String::from_utf8_lossy(&output.stderr));
        let manifest = std::fs::read_to_string(project.join(manifest)).unwrap();
        assert!(manifest.contains(&format!("acme-{lang}")), "{lang}: the project is named after NAME");
        assert!(!manifest.contains("incidents-plugin"), "{lang}: the template's name is replaced");
        assert!(project.join(source).is_file(), "{lang}: {source}");
        // The Rust SDK is on the newest interface; the other templates need nothing newer than 0.1.0.
        let (wit, version) =
            if lang == "rust" { ("sdk/wit/plugin@0.2.0/plugin.wit", "0.2.0") } else { ("wit/plugin.wit", "0.1.0") };
        let wit = std::fs::read_to_string(project.join(wit)).unwrap();
        assert!(wit.contains(&format!("package autotask-events:plugin@{version};")), "{lang}: the WIT comes along");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(project.join("build")).unwrap().permissions().mode();
            assert_eq!(mode & 0o111, 0o111, "{lang}: build is executable");
        }

        let again = autotask_events(&["plugin", "new", "x", "--lang", lang, "--dir", project_arg], None);
        assert_eq!(again.status.code(), Some(1));
        assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"), "{lang}: never overwrites");
    }
    let bad = autotask_events(&["plugin", "new", "no/slashes", "--lang", "js"], None);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("is not a project name"));
}

/// The entities `sim sample` generates, and an optional field each leaves null now and then.
const SAMPLE_ENTITIES: [(&str, &str); 4] =
    [("Tickets", "description"), ("Companies", "phone"), ("Contacts", "emailAddress"), ("TicketNotes", "description")];

#[test]
fn sim_sample_prints_the_same_messy_records_for_a_seed() {
    for (entity, optional) in SAMPLE_ENTITIES {
        let output = autotask_events(&["sim", "sample", "--entity", entity, "--count", "300", "--seed", "4"], None);
        assert!(output.status.success(), "{entity}: {}", String::from_utf8_lossy(&output.stderr));
        let records = stdout_json(&output);
        let records = records.as_array().unwrap();
        assert_eq!(records.len(), 300, "{entity}");
        assert!(records.iter().all(|r| r["id"].is_u64() && r["lastActivityDate"].is_string()), "{entity}");
        assert!(records.iter().any(|r| r[optional].is_null()), "{entity}: some {optional} are null");
        assert!(records.iter().any(|r| r[optional].is_string()), "{entity}: some {optional} are set");

        let lower = entity.to_lowercase();
        let again = autotask_events(&["sim", "sample", "--entity", &lower, "--count", "300", "--seed", "4"], None);
        assert_eq!(again.stdout, output.stdout, "{entity}: the same seed gives the same records");
        let other = autotask_events(&["sim", "sample", "--entity", entity, "--count", "300", "--seed", "5"], None);
        assert_ne!(other.stdout, output.stdout, "{entity}: another seed gives other records");
    }
    let default = autotask_events(&["sim", "sample", "--entity", "Companies"], None);
    assert_eq!(stdout_json(&default).as_array().unwrap().len(), 100, "100 records by default");

    let unknown = autotask_events(&["sim", "sample", "--entity", "Projects"], None);
    assert_eq!(unknown.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    assert!(stderr.contains("--entity `Projects`"), "{stderr}");
    assert!(stderr.contains("known: Tickets, Companies, Contacts, TicketNotes"), "{stderr}");
}

/// `plugin new` for `args`, in a new directory; its stdout and the directory.
fn plugin_new(dir: &Path, name: &str, args: &[&str]) -> (Output, std::path::PathBuf) {
    let project = dir.join(name);
    let mut all = vec!["plugin", "new", name, "--dir", project.to_str().unwrap()];
    all.extend(args);
    (autotask_events(&all, None), project)
}

/// Fails if `text` points into this repository.
fn assert_no_repository_paths(text: &str, what: &str) {
    for repo_path in ["../", "examples/", "host/", "plugins/incidents", "tickets.json"] {
        assert!(!text.contains(repo_path), "{what} mentions `{repo_path}`:\n{text}");
    }
}

#[test]
fn plugin_new_writes_a_script_plugin_for_each_known_resource() {
    let dir = tempfile::tempdir().unwrap();
    let known = [
        ("incidents", "Tickets", "createDate", "ticketNumber"),
        ("accounts", "Companies", "createDate", "companyName"),
        ("contacts", "Contacts", "createDate", "emailAddress"),
        ("notes", "TicketNotes", "createDateTime", "ticketID"),
    ];
    for (lang, ext, test_file) in [("js", "js", "{}.test.js"), ("python", "py", "test_{}.py")] {
        for (resource, entity, created, field) in known {
            let (output, project) =
                plugin_new(dir.path(), &format!("{resource}-{lang}"), &["--lang", lang, "--resource", resource]);
            assert!(output.status.success(), "{lang} {resource}: {}", String::from_utf8_lossy(&output.stderr));
            let script = std::fs::read_to_string(project.join(format!("{resource}.{ext}"))).unwrap();
            assert!(
                script.contains(&format!("\"{entity}\"")) || script.contains(&format!("'{entity}'")),
                "{lang} {resource}"
            );
            assert!(
                script.contains(created) && script.contains("lastActivityDate"),
                "{lang} {resource}: its date fields"
            );
            assert!(script.contains(field), "{lang} {resource}: maps {field}");
            assert_eq!(
                script.contains("DEACTIVATED"),
                entity == "Companies",
                "{lang} {resource}: the custom event type"
            );
            assert!(project.join(test_file.replace("{}", resource)).is_file(), "{lang} {resource}: its unit test");
            assert!(
                !project.join("build").exists() && !project.join("wit").exists(),
                "{lang}: a script needs no build"
            );

            let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
            let try_it = format!(
                "autotask-events sim sample --entity {entity} --count 500 > records.json && \
                 autotask-events plugin check {resource}.{ext} --records records.json"
            );
            assert!(readme.contains(&try_it), "{lang} {resource}: README says how to try it:\n{readme}");
            assert_no_repository_paths(&readme, "the README");
            let stdout = String::from_utf8_lossy(&output.stdout);
            assert!(stdout.contains(&format!("sim sample --entity {entity} --count 500")), "{stdout}");
            assert_no_repository_paths(&stdout.replace(dir.path().to_str().unwrap(), "DIR"), "plugin new's output");
        }
    }

    let (output, project) =
        plugin_new(dir.path(), "clients", &["--lang", "js", "--resource", "clients", "--entity", "companies"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let script = std::fs::read_to_string(project.join("clients.js")).unwrap();
    assert!(script.contains("resource: 'clients'") && script.contains("entity: 'Companies'"), "{script}");

    let (output, _) = plugin_new(dir.path(), "unknown", &["--lang", "js", "--resource", "projects"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--resource `projects` is not a resource plugin new knows"), "{stderr}");
    assert!(stderr.contains("incidents (Tickets), accounts (Companies), contacts (Contacts), notes (TicketNotes)"));
    assert!(stderr.contains("--entity"), "{stderr}");

    let (output, _) =
        plugin_new(dir.path(), "bad-entity", &["--lang", "python", "--resource", "x", "--entity", "Projects"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--entity `Projects`") && stderr.contains("Tickets, Companies, Contacts, TicketNotes"));

    for lang in ["js", "c"] {
        let mut args = vec!["--lang", lang, "--resource", "accounts"];
        if lang == "js" {
            args.push("--component");
        }
        let (output, project) = plugin_new(dir.path(), &format!("component-{lang}"), &args);
        assert_eq!(output.status.code(), Some(1), "{lang}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("component template maps only resource `incidents`"), "{lang}: {stderr}");
        assert!(!project.exists(), "{lang}: nothing written");
    }
}

#[test]
fn plugin_new_rust_maps_the_entity_of_the_resource() {
    let dir = tempfile::tempdir().unwrap();
    let (output, project) = plugin_new(dir.path(), "incidents-rust", &["--lang", "rust"]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let built_in = concat!(env!("CARGO_MANIFEST_DIR"), "/../../plugins/incidents/src/mapping.rs");
    let mapping = std::fs::read_to_string(project.join("src/mapping.rs")).unwrap();
    assert_eq!(mapping, std::fs::read_to_string(built_in).unwrap(), "incidents is the built-in plugin's mapping");

    for (resource, entity, created, field) in [
        ("accounts", "Companies", "createDate", "(\"companyName\", \"name\")"),
        ("contacts", "Contacts", "createDate", "(\"emailAddress\", \"email\")"),
        ("notes", "TicketNotes", "createDateTime", "(\"ticketID\", \"ticketId\")"),
    ] {
        let (output, project) =
            plugin_new(dir.path(), &format!("{resource}-rust"), &["--lang", "rust", "--resource", resource]);
        assert!(output.status.success(), "{resource}: {}", String::from_utf8_lossy(&output.stderr));
        let mapping = std::fs::read_to_string(project.join("src/mapping.rs")).unwrap();
        assert!(mapping.contains(field), "{resource}: maps {field}");
        assert!(!mapping.contains("(\"ticketNumber\", \"ticketNumber\")"), "{resource}: not the Ticket fields");
        assert!(mapping.contains(&format!("entity: \"{entity}\".into()")), "{resource}");
        assert!(mapping.contains(&format!("created_date_field: Some(\"{created}\".into())")), "{resource}");
        assert!(
            mapping.contains(&format!("assert_eq!(described.resource, \"{resource}\")")),
            "{resource}: tests of its own"
        );
        let readme = std::fs::read_to_string(project.join("README.md")).unwrap();
        assert!(
            readme.contains(&format!("--entity {entity}")) && readme.contains(&format!("{resource}.wasm")),
            "{readme}"
        );
        assert!(!readme.contains("incidents"), "{resource}: {readme}");
        assert_no_repository_paths(&readme, "the README");
        let build = std::fs::read_to_string(project.join("build")).unwrap();
        assert!(build.contains(&format!("{resource}.wasm")), "{resource}: the build writes {resource}.wasm");
    }
}

#[test]
fn check_maps_record_by_record_when_a_batch_traps() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("misbehaving.wasm");
    std::fs::write(&plugin, MISBEHAVING_WASM).unwrap();
    let records: Vec<Value> = (1..=5)
        .map(|id| {
            let mut record =
                json!({"id": id, "createDate": "2024-06-01T10:00:00Z", "lastActivityDate": "2024-06-01T11:00:00Z"});
            if id == 3 {
                record["poison"] = json!(true);
            }
            record
        })
        .collect();
    let output = autotask_events(
        &["plugin", "check", plugin.to_str().unwrap(), "--records", "-", "--resource", "trap-on-poison"],
        Some(&Value::from(records).to_string()),
    );
    assert_eq!(output.status.code(), Some(1), "{}", String::from_utf8_lossy(&output.stderr));
    let report = stdout_json(&output);
    let ids: Vec<&Value> = report["events"].as_array().unwrap().iter().map(|e| &e["objectId"]).collect();
    assert_eq!(ids, ["1", "2", "4", "5"], "every record but the poisoned one is mapped");
    let errors = report["errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["index"], 2);
    let message = errors[0]["message"].as_str().unwrap();
    assert!(message.contains("misbehaving.wasm` trapped"), "{message}");
}

#[test]
fn check_keeps_the_compiled_plugin_in_the_service_cache() {
    let dir = tempfile::tempdir().unwrap();
    let plugin = dir.path().join("incidents.wasm");
    std::fs::write(&plugin, INCIDENTS_WASM).unwrap();
    let cache = dir.path().join("cache");
    let artifacts = || -> Vec<String> {
        std::fs::read_dir(&cache)
            .map(|entries| entries.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default()
    };
    for _ in 0..2 {
        let output = autotask_events(
            &[
                "plugin",
                "check",
                plugin.to_str().unwrap(),
                "--records",
                EXAMPLE_TICKETS,
                "--cache-dir",
                cache.to_str().unwrap(),
            ],
            None,
        );
        assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
        let cached = artifacts();
        assert_eq!(cached.len(), 1, "one compiled plugin, written before the check ended: {cached:?}");
        let version = plugin_runtime::version_of(INCIDENTS_WASM);
        assert!(cached[0].starts_with(&version) && cached[0].ends_with(".cwasm"), "{cached:?}");
    }

    // By default, where `serve` keeps it for a configuration in the working directory.
    let cwd = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_autotask-events"))
        .args(["plugin", "check", plugin.to_str().unwrap(), "--records", EXAMPLE_TICKETS])
        .current_dir(cwd.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    let cached = std::fs::read_dir(cwd.path().join("data/plugin-cache")).unwrap().count();
    assert_eq!(cached, 1, "the compiled plugin is in data/plugin-cache");

    let output = Command::new(env!("CARGO_BIN_EXE_autotask-events"))
        .args(["plugin", "check", plugin.to_str().unwrap(), "--records", EXAMPLE_TICKETS, "--no-cache"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(!dir.path().join("data").exists(), "--no-cache writes nothing");
}

#[test]
fn a_new_accounts_script_checks_against_sample_companies() {
    let dir = tempfile::tempdir().unwrap();
    let records = dir.path().join("records.json");
    let sample = autotask_events(&["sim", "sample", "--entity", "Companies", "--count", "200"], None);
    assert!(sample.status.success(), "{}", String::from_utf8_lossy(&sample.stderr));
    std::fs::write(&records, &sample.stdout).unwrap();
    let companies: Vec<Value> = serde_json::from_slice(&sample.stdout).unwrap();
    let inactive = companies.iter().filter(|c| c["isActive"] == false).count();
    assert!(inactive > 0, "the sample has inactive companies");

    for (lang, file) in [("js", "accounts.js"), ("python", "accounts.py")] {
        let (output, project) =
            plugin_new(dir.path(), &format!("x-{lang}"), &["--lang", lang, "--resource", "accounts"]);
        assert!(output.status.success(), "{lang}: {}", String::from_utf8_lossy(&output.stderr));
        let script = project.join(file);
        let output = autotask_events(
            // The tests' shared compile cache: the runners compile once, not per run.
            &[
                "plugin",
                "check",
                script.to_str().unwrap(),
                "--records",
                records.to_str().unwrap(),
                "--cache-dir",
                TEST_COMPILE_CACHE,
            ],
            None,
        );
        assert_eq!(output.status.code(), Some(0), "{lang}: {}", String::from_utf8_lossy(&output.stderr));
        let report = stdout_json(&output);
        assert_eq!(report["errors"], json!([]), "{lang}");
        let events = report["events"].as_array().unwrap();
        assert_eq!(events.len(), companies.len(), "{lang}");
        for (event, company) in events.iter().zip(&companies) {
            assert_eq!(event["objectType"], "accounts", "{lang}: the resource its describe names");
            assert_eq!(event["objectId"], json!(company["id"].to_string()), "{lang}");
            assert_eq!(event["payload"]["name"], company["companyName"], "{lang}");
            assert_eq!(event["payload"]["phone"], company["phone"], "{lang}: nulls stay null");
            let deactivated = event["eventType"] == "DEACTIVATED";
            assert_eq!(deactivated, company["isActive"] == false, "{lang}: company {}", company["id"]);
        }
    }
}
