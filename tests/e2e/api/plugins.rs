//! Plugins uploaded through the API, end to end: a script uploaded with
//! `PUT /plugins/incidents.js` maps the next poll's tickets (in place of the
//! built-in component), a second version takes over, a broken one is refused
//! naming the problem while the version serving goes on mapping, a rollback
//! to version 1 maps with it again, and a restart writes the active version
//! back from the state database. Only organization admins may change plugins.

use super::*;

/// A user who is no organization admin.
const BOB: &str = "bob-is-no-admin-secret-0123456789";

/// A Tickets mapping whose payload says which `mapping` made it.
fn ticket_script(mapping: &str) -> Vec<u8> {
    format!(
        "// Tickets as incidents, mapping {mapping}.\n\
         exports.describe = () => ({{ resource: 'incidents', entity: 'Tickets', idField: 'id',\n  \
           createdDateField: 'createDate', updatedDateField: 'lastActivityDate' }});\n\
         exports.mapRecord = (ticket, meta) => ({{\n  \
           eventType: meta.defaultEventType,\n  \
           payload: {{ id: ticket.id, title: ticket.title, mapping: '{mapping}' }},\n\
         }});\n"
    )
    .into_bytes()
}

/// A script that does not parse (line 2).
const BROKEN: &str = "exports.mapRecord = (ticket) => {\n  return { payload: ticket ;\n};\n";

fn bob() -> String {
    format!("Organization {ORGANIZATION_SECRET}, User {BOB}")
}

/// `PUT /plugins/{name}` with `bytes` as the body.
async fn put_plugin(setup: &Setup, authorization: &str, name: &str, bytes: Vec<u8>) -> (StatusCode, Value) {
    let response = setup
        .api
        .http
        .put(format!("{}/plugins/{name}", setup.api.base))
        .header("Authorization", authorization)
        .header("Content-Type", "application/octet-stream")
        .body(bytes)
        .send()
        .await
        .expect("the API answers");
    let status = response.status();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

/// Waits until the registry serves `bytes` as `file` (the watcher swapped it
/// in), then a little longer, so a poll already under way ends on the old one.
async fn wait_serving(setup: &Setup, file: &str, bytes: &[u8]) {
    let version = plugin_runtime::version_of_file(Path::new(file), bytes);
    wait_until(WAIT, &format!("{file} serving {version}"), || async {
        let (_, plugins) = setup.api.call(Method::GET, "/plugins", None).await;
        plugins
            .as_array()?
            .iter()
            .any(|plugin| plugin["name"] == file && plugin["version"] == version.as_str())
            .then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(700)).await;
}

/// Creates a ticket and returns the `mapping` of its event's payload.
async fn mapping_of_next_poll(setup: &Setup, title: &str) -> Value {
    let ticket = SimControl::new(&setup.sim).create("Tickets", json!({"title": title})).await.to_string();
    let events = setup
        .receiver
        .wait_for(WAIT, title, |events| events.iter().any(|event| event["objectId"] == ticket.as_str()))
        .await;
    let event = events.iter().find(|event| event["objectId"] == ticket.as_str()).unwrap();
    assert_eq!(event["payload"]["title"], title, "{event}");
    event["payload"]["mapping"].clone()
}

fn versions_of(listed: &Value) -> Vec<(i64, bool)> {
    listed
        .as_array()
        .unwrap()
        .iter()
        .map(|v| (v["version"].as_i64().unwrap(), v["active"].as_bool().unwrap()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_plugin_maps_the_next_poll_and_versions_roll_back() {
    let users = format!("[[api.users]]\nname = \"bob\"\nsecret = \"{BOB}\"\n");
    let cache = format!("compile_cache_dir = {:?}", support::service::TEST_COMPILE_CACHE);
    let mut setup = Setup::with(&[users], &cache).await;
    let plugin_dir = setup._dir.path().join("plugins");
    setup.create().await;
    assert_eq!(mapping_of_next_poll(&setup, "Mapped by the built-in component").await, Value::Null);

    // Version 1: stored, active, written in place of the built-in component, and mapping.
    let (one, two) = (ticket_script("v1"), ticket_script("v2"));
    let (status, uploaded) = put_plugin(&setup, &authorization(), "incidents.js", one.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    assert_eq!(uploaded["name"], "incidents.js");
    assert_eq!(uploaded["version"], 1);
    assert_eq!(uploaded["sha256"], plugin_runtime::version_of(&one).as_str());
    assert_eq!(uploaded["size"], one.len());
    assert_eq!(uploaded["uploadedBy"], "admin");
    assert_eq!(uploaded["active"], true);
    assert!(uploaded["uploadedAt"].as_str().unwrap().ends_with('Z'), "{uploaded}");
    assert_eq!(std::fs::read(plugin_dir.join("incidents.js")).unwrap(), one);
    assert!(!plugin_dir.join("incidents.wasm").exists(), "the component of the same resource is removed");
    wait_serving(&setup, "incidents.js", &one).await;
    assert_eq!(mapping_of_next_poll(&setup, "Mapped by version 1").await, "v1");

    // Version 2 takes over at the next poll.
    let (status, uploaded) = put_plugin(&setup, &authorization(), "incidents.js", two.clone()).await;
    assert_eq!((status, uploaded["version"].clone()), (StatusCode::CREATED, json!(2)), "{uploaded}");
    wait_serving(&setup, "incidents.js", &two).await;
    assert_eq!(mapping_of_next_poll(&setup, "Mapped by version 2").await, "v2");

    // A broken one is refused naming the problem; nothing is stored, version 2 keeps mapping.
    let (status, refused) = put_plugin(&setup, &authorization(), "incidents.js", BROKEN.into()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let message = refused["message"].as_str().unwrap();
    assert!(message.contains("incidents.js") && message.contains("incidents.js:2"), "{refused}");
    assert_eq!(std::fs::read(plugin_dir.join("incidents.js")).unwrap(), two, "the file is untouched");
    assert_eq!(mapping_of_next_poll(&setup, "Still mapped by version 2").await, "v2");

    // The versions, newest first; any user may list them.
    let (status, listed) = setup.api.call(Method::GET, "/plugins/incidents.js/versions", None).await;
    assert_eq!(status, StatusCode::OK, "{listed}");
    assert_eq!(versions_of(&listed), [(2, true), (1, false)], "{listed}");
    assert_eq!(listed[1]["sha256"], plugin_runtime::version_of(&one).as_str());
    assert!(listed[0].get("bytes").is_none());
    let (status, as_bob) = setup.api.call_as(&bob(), Method::GET, "/plugins/incidents.js/versions", None).await;
    assert_eq!((status, &as_bob), (StatusCode::OK, &listed));

    // Rollback: version 1 maps the next poll again.
    let (status, activated) = setup.api.call(Method::POST, "/plugins/incidents.js/versions/1/activate", None).await;
    assert_eq!(status, StatusCode::OK, "{activated}");
    assert_eq!((activated["version"].clone(), activated["active"].clone()), (json!(1), json!(true)));
    wait_serving(&setup, "incidents.js", &one).await;
    assert_eq!(mapping_of_next_poll(&setup, "Mapped by version 1 again").await, "v1");
    let (_, listed) = setup.api.call(Method::GET, "/plugins/incidents.js/versions", None).await;
    assert_eq!(versions_of(&listed), [(2, false), (1, true)]);

    // Version 2's bytes again: that version, active again, and no third one.
    let (status, again) = put_plugin(&setup, &authorization(), "incidents.js", two.clone()).await;
    assert_eq!((status, again["version"].clone(), again["active"].clone()), (StatusCode::OK, json!(2), json!(true)));
    let (_, listed) = setup.api.call(Method::GET, "/plugins/incidents.js/versions", None).await;
    assert_eq!(versions_of(&listed), [(2, true), (1, false)]);
    wait_serving(&setup, "incidents.js", &two).await;

    // Unknown versions, and only admins change plugins.
    let (status, missing) = setup.api.call(Method::POST, "/plugins/incidents.js/versions/9/activate", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    assert!(missing["message"].as_str().unwrap().contains("version 9"), "{missing}");
    let (status, forbidden) = put_plugin(&setup, &bob(), "incidents.js", one.clone()).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{forbidden}");
    assert!(forbidden["message"].as_str().unwrap().contains("organization admin"), "{forbidden}");
    let (status, forbidden) =
        setup.api.call_as(&bob(), Method::POST, "/plugins/incidents.js/versions/1/activate", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{forbidden}");
    let (_, listed) = setup.api.call(Method::GET, "/plugins/incidents.js/versions", None).await;
    assert_eq!(versions_of(&listed), [(2, true), (1, false)], "bob changed nothing");

    // Names: a resource name and a plugin extension, nothing else.
    for name in ["..%2Fincidents.js", "in%20cidents.js", "incidents.txt", "in.cidents.js"] {
        let (status, refused) = put_plugin(&setup, &authorization(), name, one.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{name}: {refused}");
        assert_eq!(refused["field"], "name", "{name}: {refused}");
    }
    let (status, refused) = put_plugin(&setup, &authorization(), "incidents", one.clone()).await;
    assert_eq!((status, refused["field"].clone()), (StatusCode::BAD_REQUEST, json!("name")), "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("incidents.js"), "it says what to name it: {refused}");
    let (status, refused) = put_plugin(&setup, &authorization(), "incidents.js", vec![b' '; (64 << 20) + 1]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{refused}");
    assert!(refused["message"].as_str().unwrap().contains("64 MiB"), "{refused}");
    let mut files: Vec<String> = std::fs::read_dir(&plugin_dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    files.sort();
    assert_eq!(files, ["contacts.wasm", "incidents.js"], "no partial or refused file is left");

    // The refused upload never reached the plugin directory, and no swap saw two files of one resource.
    let (_, reloads) = setup.api.call(Method::GET, "/plugins/reloads", None).await;
    let outcomes: Vec<&Value> = reloads.as_array().unwrap().iter().map(|reload| &reload["outcome"]).collect();
    assert!(!outcomes.is_empty() && outcomes.iter().all(|outcome| *outcome == "loaded"), "{reloads}");

    // A restart writes the active version back from the state database.
    setup.service.take().unwrap().stop().await;
    std::fs::remove_file(plugin_dir.join("incidents.js")).unwrap();
    setup.restart().await;
    assert_eq!(std::fs::read(plugin_dir.join("incidents.js")).unwrap(), two);
    assert!(!plugin_dir.join("incidents.wasm").exists(), "the built-in component does not come back beside it");
    assert_eq!(mapping_of_next_poll(&setup, "Mapped by version 2 after a restart").await, "v2");

    let log = String::from_utf8_lossy(&LOG.lock().unwrap()).into_owned();
    assert!(log.contains("uploaded plugin incidents.js version 2"), "uploads are logged");
    assert!(log.contains("activated plugin incidents.js version 1"), "activations are logged");
    assert!(!log.contains("mapping: 'v1'"), "never the bytes");
    setup.assert_no_secret_logged();
}

/// Tickets as a poll reads them, for `POST /plugins/{name}/try`.
fn try_records() -> Value {
    json!([
        {"id": 41, "title": "Printer", "createDate": "2024-06-01T08:00:00Z", "lastActivityDate": "2024-06-01T09:30:00Z"},
        {"id": 42, "title": "VPN", "createDate": "2024-06-01T09:20:00Z", "lastActivityDate": "2024-06-01T09:20:00Z"}
    ])
}

/// The `-`/`+` lines of a diff.
fn changed_lines(diff: &Value) -> Vec<&str> {
    diff.as_str().unwrap().lines().filter(|line| !line.starts_with(' ')).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_versions_are_tried_on_records_without_changing_what_serves() {
    let users = format!("[[api.users]]\nname = \"bob\"\nsecret = \"{BOB}\"\n");
    let cache = format!("compile_cache_dir = {:?}", support::service::TEST_COMPILE_CACHE);
    let setup = Setup::with(&[users], &cache).await;
    let plugin_dir = setup._dir.path().join("plugins");
    let (one, two) = (ticket_script("v1"), ticket_script("v2"));
    for bytes in [&one, &two] {
        let (status, uploaded) = put_plugin(&setup, &authorization(), "incidents.js", bytes.clone()).await;
        assert_eq!(status, StatusCode::CREATED, "{uploaded}");
    }
    wait_serving(&setup, "incidents.js", &two).await;
    let (_, plugins_before) = setup.api.call(Method::GET, "/plugins", None).await;
    let (_, reloads_before) = setup.api.call(Method::GET, "/plugins/reloads", None).await;
    let try_call = |body: Value| {
        let api = &setup.api;
        // Any user may try: bob is no admin.
        async move { api.call_as(&bob(), Method::POST, "/plugins/incidents.js/try", Some(body.to_string())).await }
    };

    // Versions 1 and 2: each record's one event changed in exactly the `mapping` field.
    let (status, tried) = try_call(json!({"records": try_records(), "versions": [1, 2]})).await;
    assert_eq!(status, StatusCode::OK, "{tried}");
    assert_eq!((tried["old"]["version"].clone(), tried["new"]["version"].clone()), (json!(1), json!(2)), "{tried}");
    assert_eq!(
        (tried["records"].clone(), tried["identical"].clone(), tried["failed"].clone()),
        (json!(2), json!(0), json!([]))
    );
    let changed = tried["changed"].as_array().unwrap();
    assert_eq!(changed.len(), 2, "{tried}");
    assert_eq!((changed[1]["index"].clone(), changed[1]["objectId"].clone()), (json!(1), json!("42")));
    assert_eq!((changed[1]["removed"].clone(), changed[1]["added"].clone()), (json!([]), json!([])));
    let change = &changed[1]["changed"][0];
    assert_eq!(
        (change["before"]["payload"]["mapping"].clone(), change["after"]["payload"]["mapping"].clone()),
        (json!("v1"), json!("v2"))
    );
    assert_eq!(changed_lines(&change["diff"]), ["-    \"mapping\": \"v1\"", "+    \"mapping\": \"v2\""], "{change}");
    assert_eq!(tried["results"][0]["old"]["events"][0]["payload"]["title"], "Printer", "{tried}");
    assert_eq!(tried["results"][0]["new"]["events"][0]["payload"]["mapping"], "v2", "{tried}");

    // Bytes not stored yet against the active version (2).
    let three = String::from_utf8(ticket_script("v3")).unwrap();
    let upload = json!({"records": try_records(), "upload": {"name": "incidents.js", "content": three}});
    let (status, tried) = try_call(upload).await;
    assert_eq!(status, StatusCode::OK, "{tried}");
    assert_eq!(
        (tried["old"]["version"].clone(), tried["old"]["source"].clone()),
        (json!(2), json!("version")),
        "{tried}"
    );
    assert_eq!((tried["new"]["source"].clone(), tried["new"]["version"].clone()), (json!("upload"), Value::Null));
    let change = &tried["changed"][0]["changed"][0];
    assert_eq!(changed_lines(&change["diff"]), ["-    \"mapping\": \"v2\"", "+    \"mapping\": \"v3\""], "{change}");

    // A component, in base64: the built-in incidents mapping against version 2.
    use base64::Engine as _;
    let component = base64::engine::general_purpose::STANDARD.encode(support::INCIDENTS_WASM);
    let upload = json!({"records": try_records(), "upload": {"name": "incidents.wasm", "contentBase64": component}});
    let (status, tried) = try_call(upload).await;
    assert_eq!(status, StatusCode::OK, "{tried}");
    assert_eq!(
        (tried["new"]["name"].clone(), tried["new"]["source"].clone()),
        (json!("incidents.wasm"), json!("upload"))
    );
    assert_eq!(tried["new"]["sha256"], plugin_runtime::version_of(support::INCIDENTS_WASM).as_str(), "{tried}");
    assert_eq!((tried["records"].clone(), tried["identical"].clone()), (json!(2), json!(0)), "{tried}");
    assert!(tried["results"][0]["old"]["events"][0]["payload"]["mapping"] == "v2", "{tried}");

    // Without versions or upload: the active version against the file serving, the same here.
    let (status, tried) = try_call(json!({"records": try_records()})).await;
    assert_eq!(status, StatusCode::OK, "{tried}");
    assert_eq!((tried["identical"].clone(), tried["changed"].clone()), (json!(2), json!([])), "{tried}");
    assert_eq!((tried["old"]["source"].clone(), tried["new"]["source"].clone()), (json!("version"), json!("serving")));

    // Bad bodies name their field; unknown versions and plugins are 404.
    for (body, field) in [
        (json!({"versions": [1, 2]}), "records"),
        (json!({"records": {"id": 1}, "versions": [1, 2]}), "records"),
        (json!({"records": try_records(), "versions": [1]}), "versions"),
        (json!({"records": try_records(), "versions": "1,2"}), "versions"),
        (json!({"records": try_records(), "upload": {"content": "x"}}), "upload.name"),
        (json!({"records": try_records(), "upload": {"name": "../incidents.js", "content": "x"}}), "upload.name"),
        (json!({"records": try_records(), "upload": {"name": "incidents.js", "content": BROKEN}}), "upload.content"),
    ] {
        let (status, refused) = try_call(body.clone()).await;
        assert_eq!((status, refused["field"].clone()), (StatusCode::BAD_REQUEST, json!(field)), "{body}: {refused}");
    }
    let (status, refused) =
        setup.api.call_as(&bob(), Method::POST, "/plugins/incidents.js/try", Some("{".into())).await;
    assert_eq!((status, refused["field"].clone()), (StatusCode::BAD_REQUEST, json!("$")), "{refused}");
    let (status, missing) = try_call(json!({"records": try_records(), "versions": [1, 9]})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");
    assert!(missing["message"].as_str().unwrap().contains("version 9 of plugin incidents.js"), "{missing}");
    let (status, missing) = setup
        .api
        .call(Method::POST, "/plugins/accounts.js/try", Some(json!({"records": try_records(), "versions": [1, 2]})))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{missing}");

    // Nothing was stored or swapped: the same versions, the same active one, the same file serving.
    let (_, listed) = setup.api.call(Method::GET, "/plugins/incidents.js/versions", None).await;
    assert_eq!(versions_of(&listed), [(2, true), (1, false)], "{listed}");
    assert_eq!(std::fs::read(plugin_dir.join("incidents.js")).unwrap(), two);
    let (_, plugins_after) = setup.api.call(Method::GET, "/plugins", None).await;
    let serving = |plugins: &Value| {
        plugins
            .as_array()
            .unwrap()
            .iter()
            .map(|p| (p["name"].clone(), p["version"].clone(), p["loadedAt"].clone()))
            .collect::<Vec<_>>()
    };
    assert_eq!(serving(&plugins_after), serving(&plugins_before));
    let (_, reloads) = setup.api.call(Method::GET, "/plugins/reloads", None).await;
    assert_eq!(reloads, reloads_before, "no file was loaded, rejected or swapped");
    setup.assert_no_secret_logged();
}
