//! Watchers of the fleet's events: alert hooks, the metrics endpoint, systemd's notifications.

pub mod alerts;
pub mod metrics;
pub mod service;
