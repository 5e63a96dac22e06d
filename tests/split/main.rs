//! The services really apart. `edge`: the gateway as an edge in front of stand-in replicas
//! (round-robin, a dead replica set aside, redirects passed through, timeouts, trace headers,
//! its own readiness, SIGTERM draining), on either backend. `apart`: the whole portal as
//! separate `city` processes on PostgreSQL + Redis, two replicas of booking, payments, channel,
//! identity and air, the cross-service flows through the gateway, and a replica killed mid-load.

#[allow(dead_code)]
#[path = "../api/harness.rs"]
mod harness;

mod apart;
mod edge;
