//! hftbacktest's wire facts: iceoryx2 service names, the header, LiveEvent/LiveRequest bytes.
//! Shared by the engine and the sims.

pub mod hftbacktest;
