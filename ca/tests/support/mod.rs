//! The real services the tests need, from the shared test kit.
#![allow(unused_imports)]

pub use palisade_testkit::{closed_port, service};
