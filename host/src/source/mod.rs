//! The Autotask side of a poll: turning a resource's poll URL into requests.

pub mod template;
