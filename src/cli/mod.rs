//! One module per subcommand.
pub mod audit;
pub mod authorize;
pub mod backup;
pub mod bench;
pub mod ca;
pub mod ca_bench;
pub mod ca_metrics;
pub mod compliance;
pub mod config_bench;
pub mod db;
pub mod health;
pub mod policy;
pub mod scan;
pub mod scan_config;
pub mod secrets;
pub mod serve;
pub mod store_bench;
