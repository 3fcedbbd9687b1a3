//! tiktok-shop-auth: get a TikTok Shop seller's OAuth tokens, keep them in a file, keep them
//! fresh from cron.
//!
//! Code map (also in the README): `cli` parses arguments into one options struct per
//! command (with `config` resolving flag, environment and default); `commands/` holds one
//! file per command (`login`, `refresh` with the one locked refresh path every command
//! uses, `status` with `token`, `shops`, `api`, `exec`, `doctor`). The machinery they
//! share sits beside it: `token_file` owns the file (lock, room, spend, save: its types
//! allow no other order); `tiktok` is the HTTP transport and the token endpoints;
//! `open_api` signs and sends Open API calls and keeps the shop list; `listener`,
//! `browser` and `html` serve the sign-in; `sandbox` is the local stand-in for TikTok;
//! `summary`, `expiry` and `json_text` describe and lay out tokens and answers; `secret`
//! keeps secrets out of output and cleans outside text; `output` is the only way to
//! stdout and stderr; `error` is the one error type and its exit codes.

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

#[macro_use]
mod output;

mod browser;
mod cli;
mod commands;
mod config;
mod error;
mod expiry;
mod html;
mod json_text;
mod listener;
mod open_api;
mod sandbox;
mod secret;
mod summary;
mod tiktok;
mod token_file;
mod url;
mod webhook;

use std::process::ExitCode;

use cli::Command;
use commands::{api, doctor, exec, login, refresh, shops, status};

fn main() -> ExitCode {
    match cli::parse(std::env::args_os().skip(1).collect())
        .and_then(run)
        .and_then(|code| output::finish().map(|()| code))
    {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            noteln!("tiktok-shop-auth: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Runs one command; the exit status on success (`exec` passes on its command's).
fn run(command: Command) -> Result<u8, error::Error> {
    let done = match command {
        Command::Help(text) => {
            out!("{text}");
            Ok(())
        }
        Command::Version => {
            outln!("{}", cli::VERSION);
            Ok(())
        }
        Command::Login(opts) => login::run(&opts),
        Command::Recover(opts) => login::recover(&opts),
        Command::Refresh(opts) => refresh::refresh(&opts),
        Command::Status(opts) => status::status(&opts),
        Command::Token(path) => status::token(&path),
        Command::Shops(opts) => shops::run(&opts),
        Command::Api(opts) => api::run(&opts),
        Command::Exec(opts) => return exec::run(&opts),
        Command::Doctor(opts) => doctor::run(&opts),
        Command::Sandbox(opts) => sandbox::run(&opts),
        Command::Webhook(opts) => commands::webhook::run(&opts),
    };
    done.map(|()| 0)
}
