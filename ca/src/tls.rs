//! TLS (todo).
