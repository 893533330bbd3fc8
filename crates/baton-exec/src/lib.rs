//! baton-exec
