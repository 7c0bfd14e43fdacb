//! The `floe` command's subcommands (the binary's modules, not part of the library).

pub mod demo;
pub mod logging;
pub mod output;
pub mod session;
pub mod tools;
