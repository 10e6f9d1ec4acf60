//! The web side of autotask-events: the management listener with its open
//! probes (`/health`, `/metrics`, `/plugins`), the Cloud Elements compatible
//! management API ([`api`]) and the web console ([`console`]), served over
//! TLS when configured ([`tls`]). Both the API and the console call the
//! engine's typed service layer ([`engine::manage::Management`]); neither
//! calls the other.

pub mod api;
pub mod console;
mod hooks;
mod listener;
mod secrets;
mod status;
pub mod tls;

pub use listener::{router, serve};
