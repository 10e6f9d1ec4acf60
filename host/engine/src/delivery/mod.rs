//! Delivering events to an instance's callback URL: the message format and its signature.

pub mod cloudevents;
pub mod instance_number;
pub mod message;
pub mod signature;
pub mod worker;
