//! Printing results and diagnostics: data on stdout, diagnostics on stderr, colour only when
//! stderr is a terminal and `NO_COLOR` is unset.

use std::io::{IsTerminal as _, Write as _};

use serde_json::Value;

/// Writes diagnostics to stderr.
pub struct Reporter {
    colour: bool,
}

impl Reporter {
    /// A reporter that colours its output when stderr is a terminal.
    pub fn new() -> Self {
        let colour = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        Self { colour }
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.colour {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// `PLACE: error: MESSAGE`.
    pub fn error_at(&self, place: &str, message: &str) {
        eprintln!("{place}: {} {message}", self.paint("1;31", "error:"));
    }

    /// `PLACE: warning: MESSAGE`.
    pub fn warning_at(&self, place: &str, message: &str) {
        eprintln!("{place}: {} {message}", self.paint("1;33", "warning:"));
    }

    /// `kro: error: MESSAGE`.
    pub fn error(&self, message: &str) {
        eprintln!("kro: {} {message}", self.paint("1;31", "error:"));
    }

    /// `PLACE: ok: MESSAGE`.
    pub fn ok_at(&self, place: &str, message: &str) {
        eprintln!("{place}: {} {message}", self.paint("1;32", "ok:"));
    }
}

/// Prints `value` on stdout as pretty JSON.
pub fn print_json(value: &Value) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, value)?;
    writeln!(out)?;
    Ok(())
}

/// Prints `value` on stdout as YAML.
pub fn print_yaml(value: &Value) -> anyhow::Result<()> {
    let text = serde_saphyr::to_string(value)?;
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    if !text.ends_with('\n') {
        writeln!(out)?;
    }
    Ok(())
}
