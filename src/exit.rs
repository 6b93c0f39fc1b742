//! The process exit codes of the command line (DESIGN §2).

/// Success.
pub const OK: u8 = 0;
/// Something failed at run time.
pub const FAILURE: u8 = 1;
/// Bad usage or an invalid manifest.
pub const USAGE: u8 = 2;
