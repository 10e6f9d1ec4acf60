//! The Autotask side of a poll: turning a resource's poll URL into requests.

pub mod ceql;
pub mod filter;
pub mod hub;
pub mod template;
