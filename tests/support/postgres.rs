//! The opted-in PostgreSQL tests' server (`AUTOTASK_EVENTS_TEST_POSTGRES`,
//! which `tests/run` starts) and a fresh database on it for each test.

/// The test server's URL; a test without one fails, saying how to start one.
pub fn server() -> String {
    std::env::var("AUTOTASK_EVENTS_TEST_POSTGRES").unwrap_or_else(|_| {
        panic!(
            "AUTOTASK_EVENTS_TEST_POSTGRES is not set: this test needs a PostgreSQL server \
             (`tests/postgres/start /tmp/pg 54341` prints its URL; tests/run starts one)"
        )
    })
}

/// A new, empty database on the test server; its URL. `name` must be unique
/// among the tests of one test binary: they run at once, in one process.
pub async fn fresh_database(name: &str) -> String {
    let server = server();
    let database = format!("autotask_events_{name}_{}", std::process::id());
    let (admin, create) = (server.clone(), database.clone());
    tokio::task::spawn_blocking(move || {
        let mut client = postgres::Client::connect(&admin, postgres::NoTls)
            .unwrap_or_else(|e| panic!("the PostgreSQL server at {admin} answers: {e}"));
        // One statement each: a batch of two runs as one transaction, which both refuse.
        client.batch_execute(&format!("DROP DATABASE IF EXISTS {create} WITH (FORCE)")).unwrap();
        client.batch_execute(&format!("CREATE DATABASE {create}")).unwrap();
    })
    .await
    .unwrap();
    let mut url = reqwest::Url::parse(&server).unwrap();
    url.set_path(&database);
    url.to_string()
}
