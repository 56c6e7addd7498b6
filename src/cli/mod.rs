//! One module per subcommand.
pub mod audit;
pub mod authorize;
pub mod bench;
pub mod db;
pub mod policy;
pub mod scan;
pub mod serve;
