//! HTTP routes (todo).
