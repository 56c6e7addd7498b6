//! One module per subcommand.
pub mod audit;
pub mod authorize;
pub mod bench;
pub mod db;
pub mod ca;
pub mod policy;
pub mod scan;
pub mod secrets;
pub mod serve;
