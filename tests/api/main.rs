//! End-to-end tests: the whole portal on a random port, over real HTTP, on whichever backend
//! the environment selects (see `harness`). One test binary for every suite.

mod account;
mod account_data;
mod air;
mod announcements;
mod announcements_urgent;
mod booking;
mod channel;
mod conversations;
mod conversations_accounts;
mod conversations_replicas;
mod demo;
mod harness;
mod identity;
mod incidents;
mod payments;
mod platform;
mod police;
mod production;
mod production_attacks;
mod security;
mod security_domain;
mod share;
mod traffic;
mod two_processes;
