use std::path::Path;

use serde_json::json;

use super::*;

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
    let configured = read_api_instance("7".into(), &body, false, Some("CODE")).unwrap();
    assert_eq!(configured.instance.connection.credentials.secret.expose(), "${env:PATH}");
    assert_eq!(configured.id, "7");
    body["element"]["key"] = json!("sfdc");
    let problems = read_api_instance("7".into(), &body, false, Some("CODE")).unwrap_err();
    assert_eq!(problems.0[0].file, Path::new(API_BODY));
    assert_eq!(problems.0[0].key, "element.key");
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
