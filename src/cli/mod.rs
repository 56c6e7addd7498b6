//! One module per subcommand.
pub mod audit;
pub mod authorize;
pub mod bench;
pub mod policy;
pub mod serve;
