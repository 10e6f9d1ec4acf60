use std::path::Path;

use serde_json::json;

use super::*;
use crate::egress::{AutotaskHosts, Egress, Range};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Cloud Elements' own Autotask instance example, secrets in files.
fn cloud_elements_body() -> Value {
    json!({"element": {"key": "autotaskcrm"},
     "configuration": {
       "crm.autotask.username": "api-user@example.com",
       "crm.autotask.password": "${file:secret.txt}",
       "crm.autotask.server.url": "https://ww2.autotask.net",
       "event.notification.enabled": true,
       "event.notification.callback.url": "https://app.example.com/autotask-events",
       "event.poller.refresh_interval": "15",
       "event.poller.configuration": {
         "incidents": {
           "url": "/hubs/helpdesk/incidents?where=lastActivityDate>='${date:yyyy-MM-dd'T'HH:mm:ssZ}'",
           "idField": "id",
           "datesConfiguration": {
             "updatedDateField": "lastActivityDate", "updatedDateFormat": "yyyy-MM-dd'T'HH:mm:ss'Z'",
             "createdDateField": "createDate", "createdDateFormat": "yyyy-MM-dd'T'HH:mm:ss'Z'"}}}},
     "tags": ["Docs"], "name": "API Instance with Polling"})
}

#[test]
fn reads_a_cloud_elements_instance_body_file() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "secret.txt", "s3cret\n");
    write(dir.path(), "code.txt", "CODE123");
    write(dir.path(), "acme.json", &cloud_elements_body().to_string());
    let config = write(
        dir.path(),
        "autotask-events.toml",
        "[server]\nintegration_code = \"${file:code.txt}\"\n\n[[instance]]\nfile = \"acme.json\"\n",
    );
    let config = load(&config).unwrap();
    assert_eq!(config.server.plugin_dir, dir.path().join("plugins"));
    assert_eq!(config.server.overlap, Duration::from_secs(60));
    let configured = &config.instances[0];
    assert_eq!(configured.id, "api-instance-with-polling");
    let instance = &configured.instance;
    assert_eq!(instance.name, "API Instance with Polling");
    assert_eq!(instance.tags, ["Docs"]);
    assert!(instance.events_enabled);
    assert_eq!(instance.refresh_interval, Duration::from_secs(15 * 60));
    assert_eq!(instance.callback_url.as_deref(), Some("https://app.example.com/autotask-events"));
    assert_eq!(instance.connection.credentials.secret.expose(), "s3cret");
    assert_eq!(instance.connection.credentials.integration_code.expose(), "CODE123", "the host's code");
    let resource = &instance.resources[0];
    assert_eq!(
        (resource.name.as_str(), resource.entity.as_str(), resource.id_field.as_str()),
        ("incidents", "Tickets", "id")
    );
    assert_eq!(resource.updated.as_ref().unwrap().field, "lastActivityDate");
    assert_eq!(resource.created.as_ref().unwrap().field, "createDate");
    assert!(resource.filter_by_updated_date);
}

#[test]
fn reads_inline_instances_with_host_settings() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "c.toml",
        r#"
[egress]
allow = ["loopback"]

[server]
listen = "127.0.0.1:9999"
data_dir = "/var/lib/autotask-events"

[[instance]]
id = "acme-helpdesk"
name = "Acme"
since = "2024-06-01T00:00:00Z"
refresh_interval_seconds = 5
plugins = { contacts = "custom/contacts.wasm" }
element = { key = "autotaskhelpdesk" }
tags = ["a", "b"]

[instance.configuration]
"helpdesk.autotask.username" = "api@example.com"
"helpdesk.autotask.password" = "pw"
"helpdesk.autotask.server.url" = "http://127.0.0.1:8089"
"helpdesk.autotask.integration.code" = "SIMCODE"
"event.notification.enabled" = "true"
"event.notification.callback.url" = "http://127.0.0.1:9000/events"
"event.poller.urls" = """
contacts|/hubs/crm/contacts?where=lastModifiedDate>='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'||lastModifiedDate|yyyy-MM-dd'T'HH:mm:ss'Z'||createDate|yyyy-MM-dd'T'HH:mm:ss'Z'|
comments|/hubs/helpdesk/comments
"""
"#,
    );
    let config = load(&config).unwrap();
    assert_eq!(config.server.listen.port(), 9999);
    assert_eq!(config.server.data_dir, PathBuf::from("/var/lib/autotask-events"));
    let configured = &config.instances[0];
    assert_eq!(configured.id, "acme-helpdesk");
    assert_eq!(configured.since.unwrap().to_rfc3339(), "2024-06-01T00:00:00+00:00");
    assert_eq!(configured.plugins["contacts"], dir.path().join("custom/contacts.wasm"));
    let instance = &configured.instance;
    assert_eq!(instance.refresh_interval, Duration::from_secs(5));
    assert_eq!(instance.connection.credentials.integration_code.expose(), "SIMCODE");
    let names: Vec<_> = instance.resources.iter().map(|r| (r.name.as_str(), r.entity.as_str())).collect();
    assert_eq!(names, [("contacts", "Contacts"), ("comments", "TicketNotes")]);
    assert_eq!(instance.resources[0].updated.as_ref().unwrap().field, "lastModifiedDate");
    assert_eq!(instance.resources[1].created.as_ref().unwrap().field, "createDateTime", "the entity's default");
}

#[test]
fn lists_every_problem_with_its_file_and_key() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = cloud_elements_body();
    let configuration = body["configuration"].as_object_mut().unwrap();
    configuration.insert("crm.autotask.password".into(), json!("${file:nope.txt}"));
    configuration.insert("event.poller.refresh_interval".into(), json!("soon"));
    configuration.insert("event.notification.callback.url".into(), json!("ftp://example.com"));
    configuration["event.poller.configuration"]["incidents"]["url"] =
        json!("/hubs/helpdesk/incidents?where=lastActivityDate>='${date:yyyy-MM-dd'T'HH:mm:ssZ}''");
    write(dir.path(), "acme.json", &body.to_string());
    let config = write(
        dir.path(),
        "c.toml",
        "[[instance]]\nfile = \"acme.json\"\n\n[[instance]]\nname = \"x\"\nelement = { key = \"salesforce\" }\nconfiguration = {}\n",
    );
    let problems = load(&config).unwrap_err();
    let text = problems.to_string();
    let acme = dir.path().join("acme.json").display().to_string();
    let toml = config.display().to_string();
    for expected in [
        format!("{acme}: configuration.\"crm.autotask.password\": cannot read secret file"),
        format!(
            "{acme}: configuration.\"event.poller.refresh_interval\": \"soon\" is not a positive number of minutes"
        ),
        format!("{acme}: configuration.\"event.notification.callback.url\": scheme `ftp` is not http or https"),
        format!("{acme}: configuration.\"event.poller.configuration\".incidents.url: poll URL `"),
        format!("{toml}: instance[1].element.key: element `salesforce` is not an Autotask element"),
    ] {
        assert!(text.contains(&expected), "missing `{expected}` in:\n{text}");
    }
    assert!(text.contains("unterminated"), "{text}");
}

#[test]
fn names_a_missing_integration_code_and_unknown_toml_keys() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "secret.txt", "s3cret");
    write(dir.path(), "acme.json", &cloud_elements_body().to_string());
    // The test process may have AUTOTASK_INTEGRATION_CODE set; an explicit empty file wins over it.
    write(dir.path(), "empty.txt", "");
    let config = write(dir.path(), "c.toml", "[server]\nintegration_code = \"\"\n[[instance]]\nfile = \"acme.json\"\n");
    let text = load(&config).unwrap_err().to_string();
    assert!(text.contains("`crm.autotask.integration.code`") && text.contains("AUTOTASK_INTEGRATION_CODE"), "{text}");
    assert!(!text.contains("s3cret"), "{text}");

    let config = write(dir.path(), "d.toml", "[server]\nlisten_on = \"x\"\n");
    let text = load(&config).unwrap_err().to_string();
    assert!(text.contains("listen_on") && text.contains("d.toml"), "{text}");
}

#[test]
fn ids_are_unique_and_url_safe() {
    assert_eq!(slug("API Instance with Polling"), "api-instance-with-polling");
    assert_eq!(slug("  Ünïcode & Co. "), "n-code-co");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "secret.txt", "s3cret");
    write(dir.path(), "code.txt", "C");
    write(dir.path(), "a.json", &cloud_elements_body().to_string());
    let config = write(
        dir.path(),
        "c.toml",
        "[server]\nintegration_code = \"${file:code.txt}\"\n[[instance]]\nfile = \"a.json\"\n[[instance]]\nfile = \"a.json\"\n",
    );
    let text = load(&config).unwrap_err().to_string();
    assert!(text.contains("instance[1].id: `api-instance-with-polling` is the id of another instance too"), "{text}");
}

#[test]
fn sample_records_are_read_and_checked_and_every_file_is_listed_for_reloads() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "secret.txt", "s3cret\n");
    write(dir.path(), "code.txt", "CODE123");
    write(dir.path(), "acme.json", &cloud_elements_body().to_string());
    write(
        dir.path(),
        "ticket.json",
        r#"{"id": 7, "lastActivityDate": "2024-01-01T00:00:00Z", "createDate": "2024-01-01T00:00:00Z"}"#,
    );
    let head = "[server]\nintegration_code = \"${file:code.txt}\"\n\n[[instance]]\nfile = \"acme.json\"\n";
    let good = write(dir.path(), "good.toml", &format!("{head}sample_records = {{ incidents = \"ticket.json\" }}\n"));
    let config = load(&good).unwrap();
    let sample: Value = serde_json::from_str(&config.instances[0].sample_records["incidents"]).unwrap();
    assert_eq!(sample["id"], 7);
    assert_eq!(config.files, [good.clone(), dir.path().join("acme.json"), dir.path().join("ticket.json")]);

    write(dir.path(), "list.json", "[1, 2]");
    write(dir.path(), "no-date.json", r#"{"id": 8, "lastActivityDate": "yesterday"}"#);
    let bad = write(
        dir.path(),
        "bad.toml",
        &format!("{head}sample_records = {{ incidents = \"list.json\", contacts = \"ticket.json\" }}\n"),
    );
    let problems = load(&bad).err().unwrap().to_string();
    assert!(
        problems.contains("instance[0].sample_records.incidents") && problems.contains("not one JSON object"),
        "{problems}"
    );
    assert!(
        problems.contains("instance[0].sample_records.contacts: the instance has no resource `contacts`"),
        "{problems}"
    );
    let unreadable =
        write(dir.path(), "date.toml", &format!("{head}sample_records = {{ incidents = \"no-date.json\" }}\n"));
    let problems = load(&unreadable).err().unwrap().to_string();
    assert!(problems.contains("no-date.json") && problems.contains("yesterday"), "{problems}");
}

#[test]
fn reads_the_api_secrets_and_tls_files_and_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "user.txt", "user-secret-from-a-file-1234\n");
    write(dir.path(), "cert.pem", "not read until start");
    write(dir.path(), "key.pem", "not read until start");
    let config = write(
        dir.path(),
        "ok.toml",
        "[server]\ntls_certificate = \"cert.pem\"\ntls_key = \"key.pem\"\n\
         [api]\nuser_secret = \"${file:user.txt}\"\norganization_secret = \"organization-secret-5678\"\nprefix = \"/api/\"\n",
    );
    let loaded = load(&config).unwrap();
    let api = &loaded.server.api;
    let user = &api.users[..];
    assert_eq!(user.len(), 1, "`user_secret` is one user");
    assert_eq!((user[0].name.as_str(), user[0].admin), (LEGACY_USER, true), "an organization admin");
    assert_eq!(user[0].secret.expose(), "user-secret-from-a-file-1234");
    assert_eq!(api.organization_secret.as_ref().unwrap().expose(), "organization-secret-5678");
    assert_eq!(api.prefix, "/api");
    assert_eq!(loaded.server.tls.as_ref().unwrap().key, dir.path().join("key.pem"));

    let config = write(
        dir.path(),
        "bad.toml",
        "[server]\ntls_certificate = \"missing.pem\"\n[api]\nuser_secret = \"tiny-s3cret\"\norganization_secret = \"organization-secret-5678\"\nprefix = \"api\"\n",
    );
    let problems = load(&config).unwrap_err();
    let keys: Vec<&str> = problems.0.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(keys, ["server.tls_key", "api.user_secret", "api", "api.prefix"], "{problems}");
    let shown = problems.to_string();
    assert!(!shown.contains("tiny-s3cret"), "a secret is never shown: {shown}");
}

#[test]
fn ids_of_digits_only_are_left_to_api_instances() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = cloud_elements_body();
    body["configuration"]["crm.autotask.password"] = json!("s3cret");
    body["configuration"]["crm.autotask.integration.code"] = json!("CODE");
    write(dir.path(), "acme.json", &body.to_string());
    let config = write(dir.path(), "service.toml", "[[instance]]\nfile = \"acme.json\"\nid = \"42\"\n");
    let problems = load(&config).unwrap_err();
    assert_eq!(problems.0[0].key, "instance[0].id");
    assert!(problems.0[0].message.contains("only digits"), "{problems}");
}

#[test]
fn api_bodies_take_secret_references_as_written() {
    let mut body = cloud_elements_body();
    body["configuration"]["crm.autotask.password"] = json!("${env:PATH}");
    let configured = read_api_instance("7".into(), &body, false, Some("CODE"), &InstanceRules::default()).unwrap();
    assert_eq!(configured.instance.connection.credentials.secret.expose(), "${env:PATH}");
    assert_eq!(configured.id, "7");
    body["element"]["key"] = json!("sfdc");
    let problems = read_api_instance("7".into(), &body, false, Some("CODE"), &InstanceRules::default()).unwrap_err();
    assert_eq!(problems.0[0].file, Path::new(API_BODY));
    assert_eq!(problems.0[0].key, "element.key");
}

/// Reads an API body under `rules`, answering the problems' keys and messages.
fn problems_of(body: &Value, rules: &InstanceRules) -> Vec<(String, String)> {
    match read_api_instance("7".into(), body, false, Some("HOSTCODE"), rules) {
        Ok(_) => Vec::new(),
        Err(problems) => problems.0.into_iter().map(|problem| (problem.key, problem.message)).collect(),
    }
}

fn first_problem(body: &Value, rules: &InstanceRules) -> (String, String) {
    problems_of(body, rules).into_iter().next().unwrap_or_else(|| panic!("no problem with {body}"))
}

fn api_body() -> Value {
    let mut body = cloud_elements_body();
    body["configuration"]["crm.autotask.password"] = json!("s3cret");
    body["configuration"]["crm.autotask.integration.code"] = json!("CODE");
    body
}

#[test]
fn numbers_must_be_finite_and_within_the_hosts_limits() {
    let rules = InstanceRules::default();
    assert!(problems_of(&api_body(), &rules).is_empty());
    for interval in [json!("inf"), json!("NaN"), json!(1e300), json!(2.5e17), json!(1e-12), json!("0.0001"), json!(0)] {
        let mut body = api_body();
        body["configuration"]["event.poller.refresh_interval"] = interval.clone();
        let (key, message) = first_problem(&body, &rules);
        assert_eq!(key, "configuration.\"event.poller.refresh_interval\"", "{interval}");
        assert!(message.contains("minutes"), "{interval}: {message}");
    }
    for (field, value) in
        [("pollDelay", json!(1e13)), ("pollDelay", json!("inf")), ("createdCheckTolerance", json!(-1))]
    {
        let mut body = api_body();
        body["configuration"]["event.poller.configuration"]["incidents"][field] = value.clone();
        let (key, message) = first_problem(&body, &rules);
        assert_eq!(key, format!("configuration.\"event.poller.configuration\".incidents.{field}"), "{value}");
        assert!(message.contains("seconds from 0 to 86400"), "{message}");
    }
    let mut body = api_body();
    body["configuration"]["event.poller.configuration"]["incidents"]["deletionPollInterval"] = json!(-5);
    let (key, message) = first_problem(&body, &rules);
    assert_eq!(key, "configuration.\"event.poller.configuration\".incidents.deletionPollInterval");
    assert!(message.contains("seconds from 0 to 86400"), "{message}");
    let floor = InstanceRules { min_refresh_interval: Duration::from_secs(60), ..InstanceRules::default() };
    let mut body = api_body();
    body["configuration"]["event.poller.refresh_interval"] = json!(0.5);
    assert_eq!(first_problem(&body, &floor).1, "0.5 must be a number of minutes from 1 to 10080 (this host's limits)");
}

#[test]
fn the_deletion_poll_interval_is_read_in_seconds_and_left_out_means_the_default() {
    let interval = |value: Value| {
        let mut body = api_body();
        body["configuration"]["event.poller.configuration"]["incidents"]["deletionPollInterval"] = value;
        let configured = read_api_instance("7".into(), &body, false, None, &InstanceRules::default()).unwrap();
        configured.instance.resources[0].deletion_poll_interval
    };
    assert_eq!(interval(json!(120)), Some(Duration::from_secs(120)));
    assert_eq!(interval(json!("0")), Some(Duration::ZERO), "0: every poll, as before");
    assert_eq!(interval(Value::Null), None);
    let configured = read_api_instance("7".into(), &api_body(), false, None, &InstanceRules::default()).unwrap();
    assert_eq!(configured.instance.resources[0].deletion_poll_interval, None);
}

#[test]
fn sizes_and_counts_are_bounded() {
    let rules = InstanceRules { max_resources: 2, ..InstanceRules::default() };
    let mut body = api_body();
    body["name"] = json!("n".repeat(500_000));
    assert_eq!(first_problem(&body, &rules), ("name".into(), "is too long: at most 200 characters".into()));

    let mut body = api_body();
    let resource = body["configuration"]["event.poller.configuration"]["incidents"].clone();
    for name in ["a", "b", "c"] {
        body["configuration"]["event.poller.configuration"][name] = resource.clone();
    }
    let (key, message) = first_problem(&body, &rules);
    assert_eq!(key, "configuration.\"event.poller.configuration\"");
    assert_eq!(message, "4 resources: at most 2 per instance (this host's limit)");

    let mut body = api_body();
    let dates = &mut body["configuration"]["event.poller.configuration"]["incidents"]["datesConfiguration"];
    dates["updatedDateFormat"] = json!("y".repeat(300_000));
    let (key, message) = first_problem(&body, &rules);
    assert!(key.ends_with("datesConfiguration.updatedDateFormat"), "{key}");
    assert_eq!(message, "is too long: at most 100 characters");

    let mut body = api_body();
    body["configuration"]["event.poller.configuration"]["incidents"]["url"] = json!("/Tickets?where=".repeat(1000));
    assert!(first_problem(&body, &rules).0.ends_with("incidents.url"));
}

#[test]
fn a_resource_line_may_be_given_once() {
    let mut body = api_body();
    let configuration = body["configuration"].as_object_mut().unwrap();
    configuration.remove("event.poller.configuration");
    let line = "incidents|/hubs/helpdesk/incidents?where=lastActivityDate>='${gmtDate:yyyy-MM-dd'T'HH:mm:ss'Z'}'";
    configuration.insert("event.poller.urls".into(), json!(format!("{line}\n{line}\n")));
    let (key, message) = first_problem(&body, &InstanceRules::default());
    assert_eq!(key, "configuration.\"event.poller.urls\" line 2");
    assert_eq!(message, "resource `incidents` is given twice");
    let many = vec![line; 3000].join("\n");
    body["configuration"]["event.poller.urls"] = json!(many);
    let (_, message) = first_problem(&body, &InstanceRules::default());
    assert_eq!(message, "3000 resources: at most 20 per instance (this host's limit)");
}

#[test]
fn wrong_types_are_refused_not_ignored() {
    let rules = InstanceRules::default();
    for (path, value, key, message) in [
        ("tags", json!("x"), "tags", "must be an array of text, not text"),
        ("tags", json!([1, {}]), "tags[0]", "must be text, not a number"),
        ("name", json!(5), "name", "must be text, not a number"),
        (
            "idField",
            json!(5),
            "configuration.\"event.poller.configuration\".incidents.idField",
            "must be text, not a number",
        ),
        (
            "datesConfiguration",
            json!("x"),
            "configuration.\"event.poller.configuration\".incidents.datesConfiguration",
            "must be an object (`updatedDateField`, ...), not text",
        ),
        (
            "signature",
            json!(12345),
            "configuration.\"event.notification.signature.key\"",
            "must be text, not a number (quote it)",
        ),
    ] {
        let mut body = api_body();
        match path {
            "tags" | "name" => body[path] = value,
            "signature" => body["configuration"]["event.notification.signature.key"] = value,
            field => body["configuration"]["event.poller.configuration"]["incidents"][field] = value,
        }
        assert_eq!(first_problem(&body, &rules), (key.to_owned(), message.to_owned()), "{path}");
    }
}

#[test]
fn callbacks_and_servers_on_internal_addresses_are_refused_unless_allowed() {
    let closed = InstanceRules::default();
    for (key, url, range) in [
        ("event.notification.callback.url", "http://127.0.0.1:9000/events", "loopback"),
        ("event.notification.callback.url", "http://169.254.169.254/latest/meta-data/", "link-local"),
        ("event.notification.callback.url", "http://10.0.0.8/hook", "private"),
        ("crm.autotask.server.url", "http://localhost:8080", "loopback"),
        ("crm.autotask.server.url", "http://192.168.1.10", "private"),
    ] {
        let mut body = api_body();
        body["configuration"][key] = json!(url);
        let (found, message) = first_problem(&body, &closed);
        assert_eq!(found, format!("configuration.\"{key}\""), "{url}");
        assert!(message.contains(range) && message.contains("[egress] allow"), "{url}: {message}");
    }
    let loopback = InstanceRules { egress: Egress::allowing([Range::Loopback]), ..InstanceRules::default() };
    let mut body = api_body();
    body["configuration"]["event.notification.callback.url"] = json!("http://127.0.0.1:9000/events");
    assert!(problems_of(&body, &loopback).is_empty());
}

#[test]
fn the_hosts_integration_code_goes_only_to_autotask_hosts() {
    let mut body = api_body();
    body["configuration"].as_object_mut().unwrap().remove("crm.autotask.integration.code");
    let rules = InstanceRules { egress: Egress::allowing([Range::Loopback]), ..InstanceRules::default() };
    let configured = read_api_instance("7".into(), &body, false, Some("HOSTCODE"), &rules).unwrap();
    assert_eq!(configured.instance.connection.credentials.integration_code.expose(), "HOSTCODE", "ww2.autotask.net");

    body["configuration"]["crm.autotask.server.url"] = json!("https://attacker.example");
    let (key, message) = first_problem(&body, &rules);
    assert_eq!(key, "configuration.\"crm.autotask.integration.code\"");
    assert!(message.contains("allowed_autotask_hosts"), "{message}");

    body["configuration"]["crm.autotask.server.url"] = json!("http://127.0.0.1:8089");
    assert!(!problems_of(&body, &rules).is_empty(), "a loopback simulator is not Autotask unless named");
    let named = InstanceRules { autotask_hosts: AutotaskHosts::with(["127.0.0.1:8089".to_owned()]), ..rules };
    assert!(problems_of(&body, &named).is_empty());
}

#[test]
fn the_rules_are_read_from_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "c.toml",
        "[egress]\nallow = [\"loopback\", \"private\"]\n\n[limits]\nmin_refresh_interval_seconds = 30\n\
         max_refresh_interval_seconds = 3600\nmax_resources_per_instance = 3\n\n\
         [server]\nallowed_autotask_hosts = [\"127.0.0.1:8089\"]\n",
    );
    let rules = load(&config).unwrap().server.rules;
    assert_eq!(rules.egress.allowed().collect::<Vec<_>>(), ["loopback", "private"]);
    assert_eq!(
        (rules.min_refresh_interval, rules.max_refresh_interval),
        (Duration::from_secs(30), Duration::from_secs(3600))
    );
    assert_eq!(rules.max_resources, 3);
    assert!(rules.autotask_hosts.trusts_text("http://127.0.0.1:8089/"));
    let defaults = ServerSettings::defaults(dir.path()).rules;
    assert_eq!(defaults.egress.allowed().count(), 0, "safe by default");

    let config = write(
        dir.path(),
        "bad.toml",
        "[egress]\nallow = [\"everything\"]\n[limits]\nmin_refresh_interval_seconds = 1e300\n",
    );
    let problems = load(&config).unwrap_err().to_string();
    assert!(problems.contains("egress.allow") && problems.contains("`everything`"), "{problems}");
    assert!(problems.contains("limits.min_refresh_interval_seconds"), "{problems}");
}

/// An inline `[[instance]]` table, with `extra` lines before its configuration.
fn inline_instance(id: &str, extra: &str) -> String {
    format!(
        "[[instance]]\nid = \"{id}\"\nname = \"{id}\"\nelement = {{ key = \"autotaskcrm\" }}\n{extra}\n\
         [instance.configuration]\n\"crm.autotask.username\" = \"u@example.com\"\n\"crm.autotask.password\" = \"p\"\n\
         \"crm.autotask.integration.code\" = \"C\"\n\"crm.autotask.server.url\" = \"https://ww2.autotask.net\"\n"
    )
}

#[test]
fn reads_api_users_with_their_secrets_by_reference_and_instance_owners() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "alice.txt", "alice-secret-from-a-file-0123\n");
    let config = write(
        dir.path(),
        "users.toml",
        &format!(
            "[api]\norganization_secret = \"organization-secret-5678\"\n\
             [[api.users]]\nname = \"alice\"\nsecret = \"${{file:alice.txt}}\"\n\
             [[api.users]]\nname = \"ops\"\nsecret = \"ops-secret-written-here-0123\"\nadmin = true\n\n{}\n{}",
            inline_instance("alices", "owner = \"alice\""),
            inline_instance("admins", "")
        ),
    );
    let loaded = load(&config).unwrap_or_else(|problems| panic!("{problems}"));
    let users: Vec<(&str, &str, bool)> =
        loaded.server.api.users.iter().map(|u| (u.name.as_str(), u.secret.expose(), u.admin)).collect();
    assert_eq!(
        users,
        [("alice", "alice-secret-from-a-file-0123", false), ("ops", "ops-secret-written-here-0123", true)]
    );
    assert!(loaded.server.api.is_open());
    let owners: Vec<Option<&str>> = loaded.instances.iter().map(|i| i.owner.as_deref()).collect();
    assert_eq!(owners, [Some("alice"), None]);
}

#[test]
fn api_users_are_checked_and_every_problem_names_its_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(
        dir.path(),
        "bad-users.toml",
        &format!(
            "[api]\nuser_secret = \"legacy-secret-0123456789\"\norganization_secret = \"organization-secret-5678\"\n\
             [[api.users]]\nname = \"alice\"\nsecret = \"alice-secret-0123456789\"\n\
             [[api.users]]\nname = \"alice\"\nsecret = \"another-secret-0123456789\"\n\
             [[api.users]]\nname = \"bob\"\nsecret = \"alice-secret-0123456789\"\n\
             [[api.users]]\nname = \" \"\nsecret = \"empty-name-secret-0123456789\"\n\
             [[api.users]]\nname = \"admin\"\nsecret = \"admin-again-secret-0123456789\"\n\
             [[api.users]]\nname = \"carol\"\nsecret = \"${{env:AUTOTASK_EVENTS_TEST_SURELY_UNSET}}\"\n\
             [[api.users]]\nname = \"dave\"\n\n{}",
            inline_instance("orphan", "owner = \"nobody\"")
        ),
    );
    let problems = load(&config).unwrap_err();
    let keys: Vec<&str> = problems.0.iter().map(|p| p.key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "api.users[1].name",
            "api.users[2].secret",
            "api.users[3].name",
            "api.users[4].name",
            "api.users[5].secret",
            "api.users[6].secret",
            "instance[0].owner",
        ],
        "{problems}"
    );
    let shown = problems.to_string();
    assert!(shown.contains("`alice` is the name of another user too"), "{shown}");
    assert!(shown.contains("user `bob` has the same secret as user `alice`"), "{shown}");
    assert!(shown.contains("the name `api.user_secret` stands for"), "{shown}");
    assert!(shown.contains("AUTOTASK_EVENTS_TEST_SURELY_UNSET"), "{shown}");
    assert!(shown.contains("`nobody` is not a user"), "{shown}");
    assert!(!shown.contains("alice-secret-0123456789"), "a secret is never shown: {shown}");

    let config = write(
        dir.path(),
        "no-organization.toml",
        "[api]\n[[api.users]]\nname = \"alice\"\nsecret = \"alice-secret-0123456789\"\n",
    );
    let problems = load(&config).unwrap_err();
    assert_eq!(problems.0.len(), 1, "{problems}");
    assert_eq!(problems.0[0].key, "api.users");
    assert!(problems.0[0].message.contains("organization_secret"), "{problems}");
}

#[test]
fn push_is_off_unless_asked_on_for_every_resource_with_webhooks_or_one() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "secret.txt", "s3cret");
    write(dir.path(), "code.txt", "CODE123");
    let mut body = cloud_elements_body();
    let poller = &mut body["configuration"]["event.poller.configuration"];
    poller["contacts"] = poller["incidents"].clone();
    poller["contacts"]["url"] = json!("/hubs/crm/contacts?where=lastActivityDate>='${date:yyyy-MM-dd'T'HH:mm:ssZ}'");
    write(dir.path(), "off.json", &body.to_string());
    body["configuration"]["event.push.enabled"] = json!(true);
    body["configuration"]["event.push.refresh_interval"] = json!(60);
    body["configuration"]["event.poller.configuration"]["contacts"]["push"] = json!(false);
    body["name"] = json!("on");
    write(dir.path(), "on.json", &body.to_string());
    let config = write(
        dir.path(),
        "c.toml",
        "[server]\nintegration_code = \"${file:code.txt}\"\npublic_url = \"https://events.example.com/\"\n\n\
         [[instance]]\nfile = \"off.json\"\n\n[[instance]]\nfile = \"on.json\"\npush_refresh_interval_seconds = 90\n",
    );
    let config = load(&config).unwrap();
    assert_eq!(config.server.public_url.as_deref(), Some("https://events.example.com"));
    let push_of =
        |index: usize| -> Vec<bool> { config.instances[index].instance.resources.iter().map(|r| r.push).collect() };
    assert_eq!(push_of(0), [false, false], "off by default, as in Cloud Elements");
    let names: Vec<&str> = config.instances[1].instance.resources.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["incidents", "contacts"]);
    assert_eq!(push_of(1), [true, false], "on for all, off where a resource says so");
    let off = &config.instances[0].instance;
    assert_eq!(
        off.push_refresh_interval,
        Duration::from_secs(15 * 60),
        "never faster than the usual poll, 15 min at least"
    );
    assert_eq!(config.instances[1].instance.push_refresh_interval, Duration::from_secs(90), "the TOML override");
}

#[test]
fn push_problems_name_the_key() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "secret.txt", "s3cret");
    let mut body = cloud_elements_body();
    let configuration = body["configuration"].as_object_mut().unwrap();
    configuration.insert("event.push.enabled".into(), json!("sometimes"));
    configuration.insert("event.push.refresh_interval".into(), json!("later"));
    let poller = &mut configuration["event.poller.configuration"];
    poller["projects"] = poller["incidents"].clone();
    poller["projects"]["url"] = json!("/Projects?where=lastActivityDateTime>='${date:yyyy-MM-dd'T'HH:mm:ssZ}'");
    poller["projects"]["push"] = json!(true);
    write(dir.path(), "acme.json", &body.to_string());
    let config = write(
        dir.path(),
        "c.toml",
        "[server]\nintegration_code = \"X\"\npublic_url = \"ftp://example.com\"\n\n[[instance]]\nfile = \"acme.json\"\n",
    );
    let text = load(&config).unwrap_err().to_string();
    for expected in [
        "configuration.\"event.push.enabled\": \"sometimes\" is not true or false",
        "configuration.\"event.push.refresh_interval\": \"later\" is not a positive number of minutes",
        "configuration.\"event.poller.configuration\".projects.push: Projects has no Autotask webhooks",
        "server.public_url: `ftp://example.com` must be an http or https URL",
    ] {
        assert!(text.contains(expected), "missing `{expected}` in:\n{text}");
    }
}

#[test]
fn the_store_url_takes_its_password_from_a_reference_and_never_shows_it() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "db-password.txt", "p@ss word\n");
    let config = write(
        dir.path(),
        "c.toml",
        "[store]\nurl = \"postgres://events@db.internal:5432/events\"\npassword = \"${file:db-password.txt}\"\n",
    );
    let config = load(&config).unwrap();
    let url = config.server.store_url.clone().expect("a PostgreSQL store");
    assert_eq!(url.expose(), "postgres://events:p%40ss%20word@db.internal:5432/events");
    assert!(!format!("{:?}", config.server).contains("p%40ss"), "the settings' debug form hides it");

    let bad = write(
        dir.path(),
        "bad.toml",
        "[store]\nurl = \"mysql://events@db/events\"\npassword = \"${env:NO_SUCH_DB_PASSWORD}\"\n",
    );
    let text = load(&bad).unwrap_err().to_string();
    assert!(text.contains("store.password: environment variable `NO_SUCH_DB_PASSWORD` is not set"), "{text}");
    let bad = write(dir.path(), "bad2.toml", "[store]\nurl = \"mysql://events:hunter2@db/events\"\n");
    let text = load(&bad).unwrap_err().to_string();
    assert!(text.contains("store.url: must be a PostgreSQL URL") && !text.contains("hunter2"), "{text}");
    let default = load(&write(dir.path(), "none.toml", "")).unwrap();
    assert!(default.server.store_url.is_none(), "SQLite unless asked");
}

#[test]
fn fleet_mode_needs_the_postgresql_store_a_unique_name_and_a_sane_lease_time() {
    let dir = tempfile::tempdir().unwrap();
    let store = "[store]\nurl = \"postgres://events@db.internal:5432/events\"\n";
    write(dir.path(), "host.txt", "events-2\n");
    let config = write(
        dir.path(),
        "c.toml",
        &format!(
            "[server]\nlisten = \"127.0.0.1:8090\"\n{store}[fleet]\nhost = \"${{file:host.txt}}\"\nlease_ttl_seconds = 4.5\n"
        ),
    );
    let fleet = load(&config).unwrap().server.fleet.expect("fleet mode");
    assert_eq!(fleet.host, "events-2", "the name may come from a reference");
    assert_eq!(fleet.lease_ttl, Duration::from_millis(4500));

    let defaults =
        load(&write(dir.path(), "d.toml", &format!("[server]\nlisten = \"127.0.0.1:8090\"\n{store}[fleet]\n")))
            .unwrap()
            .server
            .fleet
            .unwrap();
    assert!(defaults.host.ends_with(":8090"), "machine:port by default, got {}", defaults.host);
    assert_eq!(defaults.lease_ttl, DEFAULT_LEASE_TTL);

    for (text, problem) in [
        (
            "[fleet]\nhost = \"a\"\n".to_owned(),
            "fleet: fleet mode shares the state in PostgreSQL: set `[store] url` too",
        ),
        (
            format!("{store}[fleet]\nhost = \"a\"\nlease_ttl_seconds = 0.5\n"),
            "fleet.lease_ttl_seconds: 0.5 is out of range",
        ),
        (format!("[server]\nlisten = \"127.0.0.1:0\"\n{store}[fleet]\n"), "fleet.host: name this host"),
        (format!("{store}[fleet]\nhost = \"   \"\n"), "fleet.host: must be a name of 1 to 100 printable characters"),
    ] {
        let error = load(&write(dir.path(), "bad.toml", &text)).unwrap_err().to_string();
        assert!(error.contains(problem), "expected `{problem}` in: {error}");
    }
    assert!(load(&write(dir.path(), "none.toml", store)).unwrap().server.fleet.is_none(), "one host unless asked");
}

#[test]
fn telemetry_sends_traces_only_when_given_an_otlp_endpoint_and_names_what_is_wrong() {
    let dir = tempfile::tempdir().unwrap();
    let config = write(dir.path(), "c.toml", "[telemetry]\notlp_endpoint = \"http://127.0.0.1:4318/\"\n");
    let telemetry = load(&config).unwrap().server.telemetry.expect("traces on");
    assert_eq!(telemetry.otlp_endpoint, "http://127.0.0.1:4318");
    assert_eq!(telemetry.traces_url(), "http://127.0.0.1:4318/v1/traces");
    assert_eq!(telemetry.service_name, telemetry::DEFAULT_SERVICE_NAME);

    let named = write(
        dir.path(),
        "named.toml",
        "[telemetry]\notlp_endpoint = \"https://otel.example.com/otlp\"\nservice_name = \"events-eu\"\n",
    );
    let telemetry = load(&named).unwrap().server.telemetry.unwrap();
    assert_eq!(telemetry.traces_url(), "https://otel.example.com/otlp/v1/traces");
    assert_eq!(telemetry.service_name, "events-eu");
    assert!(load(&write(dir.path(), "none.toml", "")).unwrap().server.telemetry.is_none(), "no traces unless asked");
    assert!(load(&write(dir.path(), "empty.toml", "[telemetry]\n")).unwrap().server.telemetry.is_none());

    for (text, problem) in [
        (
            "otlp_endpoint = \"127.0.0.1:4318\"",
            "telemetry.otlp_endpoint: `127.0.0.1:4318` must be an http or https URL",
        ),
        ("otlp_endpoint = \"not a url\"", "telemetry.otlp_endpoint: `not a url` must be an http or https URL"),
        (
            "otlp_endpoint = \"grpc://collector:4317\"",
            "telemetry.otlp_endpoint: `grpc://collector:4317` must be an http",
        ),
        (
            "otlp_endpoint = \"http://collector:4318?x=1\"",
            "telemetry.otlp_endpoint: `http://collector:4318?x=1` must have no query",
        ),
        (
            "otlp_endpoint = \"http://user:hunter2@collector:4318\"",
            "telemetry.otlp_endpoint: must not hold credentials",
        ),
        ("service_name = \"x\"", "telemetry.otlp_endpoint: missing"),
        ("otlp_endpoint = \"http://c:4318\"\nservice_name = \" \"", "telemetry.service_name: must be a name"),
        ("otlp_endpiont = \"http://c:4318\"", "otlp_endpiont"),
    ] {
        let error = load(&write(dir.path(), "bad.toml", &format!("[telemetry]\n{text}\n"))).unwrap_err().to_string();
        assert!(error.contains(problem), "expected `{problem}` in: {error}");
        assert!(!error.contains("hunter2"), "a password in the URL is never shown: {error}");
    }
}
