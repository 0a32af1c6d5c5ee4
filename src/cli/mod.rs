//! The `edigate` command line: one file per verb; errors get context here, at the edge.

use std::process::ExitCode;

pub fn main() -> ExitCode {
    ExitCode::SUCCESS
}
