//! The engine's adapters to the OS: processes, log relays and files, iceoryx2, the state store,
//! resource usage, builds.

pub mod build;
pub mod census;
pub mod ipc;
pub mod logs;
pub mod logwake;
pub mod meter;
pub mod preflight;
pub mod private_fs;
pub mod process;
pub mod relay;
pub mod store;
pub mod sys;
pub mod usage;
