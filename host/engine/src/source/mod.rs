//! The Autotask side of a poll: turning a resource's poll URL into requests,
//! and reading every record they match from the REST API.

pub mod ceql;
pub mod client;
pub mod credentials;
pub mod error;
pub mod filter;
pub mod hub;
pub mod retry;
pub mod template;
pub mod webhooks;
pub mod zone;

pub use client::{
    AutotaskClient, ClientOptions, PageRead, Pages, QueryResult, RequestCount, ResponseObserver, ThresholdInformation,
    read_page,
};
pub use credentials::{Connection, ConnectionError, Credentials, Secret};
pub use error::SourceError;
pub use zone::ZoneCache;
