//! tiktok-shop-auth: get a TikTok Shop seller's OAuth tokens, keep them in a file, keep them
//! fresh from cron.
//!
//! Code map (the README points here), top down; each layer uses only the ones below it:
//!
//! - `main` dispatches on the command's name (this file); `cli` reads arguments and checks
//!   for unknown options ("did you mean"); `flags` defines every flag once (names,
//!   variable, default, doc), and `--help`, the completions and the man page come from it;
//!   `config` is flag, then environment, then default.
//! - `commands/<name>.rs`: one file per command, each with its `Options`, `parse` and
//!   `--help` beside its `run` (`status.rs` also holds `token`; `shell.rs` writes the
//!   completions and the man page); `sandbox/` is the local stand-in for TikTok, one file
//!   per part of TikTok it plays.
//! - `session`: what a command needs to use a seller's tokens: fresh tokens under the
//!   lock, a refused token replaced once, the shop a call is for.
//! - `store/`: where tokens live and the one order they change in (`mod.rs`: `Home` →
//!   `Guard` → `Reservation` → `Room`, no other order compiles; `file.rs` the directory of
//!   files, `etcd.rs` the cluster, `gateway.rs` etcd's JSON gateway).
//! - The wire: `http` the transport (bounded, scrubbed, proxies, `-v`), `token_api` the two
//!   token endpoints, `open_api` signed Open API calls and the shop list, `delivery`
//!   TikTok's webhook deliveries, `interrupt` Ctrl-C held while a grant is in flight;
//!   `listener`, `browser` and `html` serve the sign-in.
//! - Below them: `token_response` (a token answer as a typed view), `files` (capped reads,
//!   private files), `summary`, `json_text`, `expiry` (time, and every time rule),
//!   `secret` (secrets out of output, outside text cleaned), `url`, `output` (the only way
//!   to stdout and stderr) and `error` (the one error type, its exit codes, fix-it commands).

#![forbid(unsafe_code)]
#![deny(clippy::print_stdout, clippy::print_stderr)]

#[macro_use]
mod output;

mod browser;
mod cli;
mod commands;
mod config;
mod delivery;
mod error;
mod expiry;
mod files;
mod flags;
mod html;
mod http;
mod interrupt;
mod json_text;
mod listener;
mod open_api;
mod sandbox;
mod secret;
mod session;
mod store;
mod summary;
mod token_api;
mod token_response;
mod url;

use std::ffi::OsString;
use std::process::ExitCode;

use cli::{Args, Invocation};
use commands::{api, copy, doctor, exec, login, logout, refresh, shops, status};
use error::Error;

fn main() -> ExitCode {
    match dispatch(std::env::args_os().skip(1).collect()).and_then(|code| output::finish().map(|()| code)) {
        // An interrupt held while a grant was in flight: the run did what it had to (the
        // answer saved) and now stops as asked. A failure says more, and keeps its status.
        Ok(code) => match interrupt::exit_status() {
            Some((status, signal)) => {
                noteln!(
                    "tiktok-shop-auth: stopped by {signal} after the token request in flight was answered and saved"
                );
                ExitCode::from(status)
            }
            None => ExitCode::from(code),
        },
        Err(e) => {
            noteln!("tiktok-shop-auth: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// Runs the command the arguments name; the exit status on success (`exec` passes on its
/// command's).
fn dispatch(args: Vec<OsString>) -> Result<u8, Error> {
    let args = match cli::invocation(args)? {
        Invocation::Help(text) => return show(&text),
        Invocation::Version => return show(&format!("{}\n", cli::VERSION)),
        Invocation::Command(args) => args,
    };
    match args.command() {
        "login" => command(args, login::help, login::parse, |o| login::run(o).map(done)),
        "refresh" => command(args, refresh::help, refresh::parse, |o| refresh::run(o).map(done)),
        "status" => command(args, status::help, status::parse, |o| status::status(o).map(done)),
        "token" => command(args, status::token_help, status::parse_token, |p| status::token(p).map(done)),
        "shops" => command(args, shops::help, shops::parse, |o| shops::run(o).map(done)),
        "api" => command(args, api::help, api::parse, |o| api::run(o).map(done)),
        "exec" => command(args, exec::help, exec::parse, exec::run),
        "doctor" => command(args, doctor::help, doctor::parse, |o| doctor::run(o).map(done)),
        "copy" => command(args, copy::help, copy::parse, |o| copy::run(o).map(done)),
        "logout" => command(args, logout::help, logout::parse, |o| logout::run(o).map(done)),
        "sandbox" => command(args, sandbox::help, sandbox::parse, |o| sandbox::run(o).map(done)),
        "webhook" => {
            use commands::webhook as hook;
            command(args, hook::help, hook::parse, |o| hook::run(o).map(done))
        }
        "completions" => {
            use commands::shell;
            command(args, shell::completions_help, shell::parse_completions, |s| shell::completions(s).map(done))
        }
        "man" => {
            use commands::shell;
            command(args, shell::man_help, shell::parse_man, |o| shell::man(o).map(done))
        }
        "help" => help_topic(args),
        "version" => show(&format!("{}\n", cli::VERSION)),
        other => {
            Err(Error::Usage(format!("unknown command `{}`; try `tiktok-shop-auth --help`", secret::clean(other))))
        }
    }
}

/// One command: its `--help`, or its options parsed whole (anything left over is a usage
/// error, before anything runs) and then run.
fn command<T>(
    mut args: Args,
    help: fn() -> String,
    parse: fn(&mut Args) -> Result<T, Error>,
    run: fn(&T) -> Result<u8, Error>,
) -> Result<u8, Error> {
    if args.wants_help() {
        return show(&help());
    }
    run(&args.parse(parse)?)
}

/// `help [COMMAND]`.
fn help_topic(mut args: Args) -> Result<u8, Error> {
    match args.free()? {
        None => show(&cli::help()),
        Some(topic) => dispatch(vec![OsString::from(topic), OsString::from("--help")]),
    }
}

fn show(text: &str) -> Result<u8, Error> {
    out!("{text}");
    Ok(0)
}

fn done(_: ()) -> u8 {
    0
}
