//! Copies the write-ahead log back into the database file, on a thread of its
//! own. SQLite's automatic checkpoint runs inside the commit that crosses its
//! threshold, holding the one writer for as long as it copies and syncs the
//! log: every poll commit and every "delivered" mark behind it waited. A
//! passive checkpoint from another connection copies what no reader still
//! needs without blocking the writer or the readers.

use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use rusqlite::Connection;

/// A log this long (in pages, 16 MB at 16 KB a page) is copied back after the
/// commit that made it so. The automatic checkpoint's threshold was 64 MB; a
/// shorter log is copied in smaller steps, now that no commit waits for it.
pub(crate) const PAGES: i32 = 1024;

/// A shorter log is copied back this long after the last copy, so it does not
/// linger; a quiet host's small commits then cost a checkpoint (two syncs)
/// twice a minute, not one per commit.
const AT_LEAST_EVERY: Duration = Duration::from_secs(30);

/// At most one checkpoint in this long. While readers keep using the log,
/// SQLite cannot start it over, so it stays long and every commit asks again;
/// copying after each of them would cost two syncs a commit.
const AT_MOST_EVERY: Duration = Duration::from_secs(1);

/// Starts the checkpointing thread of the database at `path` (in WAL mode),
/// and has `writer` ask it for a checkpoint once the log is [`PAGES`] long.
/// The thread ends when `writer` is dropped.
pub(super) fn start(path: &Path, writer: &mut Connection) -> rusqlite::Result<()> {
    let connection = Connection::open(path)?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    // One request waiting is enough: the checkpoint copies all there is.
    let (due, requests) = mpsc::sync_channel::<()>(1);
    writer.wal_hook(Some(move |_: &mut rusqlite::hooks::Wal, pages: i32| {
        if pages >= PAGES {
            let _ = due.try_send(());
        }
        Ok(())
    }))?;
    std::thread::Builder::new()
        .name("store-checkpoint".into())
        .spawn(move || checkpoint_when_asked(&connection, &requests))
        .expect("a thread starts");
    Ok(())
}

fn checkpoint_when_asked(connection: &Connection, requests: &mpsc::Receiver<()>) {
    loop {
        match requests.recv_timeout(AT_LEAST_EVERY) {
            Ok(()) | Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return,
        }
        if let Err(error) = connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            tracing::warn!("cannot copy the state database's log into it: {error}");
        }
        std::thread::sleep(AT_MOST_EVERY);
    }
}
