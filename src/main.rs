//! tiktok-shop-auth: get a TikTok Shop seller's OAuth tokens, keep them in a file, keep them
//! fresh from cron.
//!
//! Code map: `cli` parses arguments into one options struct per command (with `config`
//! resolving flag, environment and default); `login` runs the browser sign-in using
//! `listener` (the loopback redirect receiver), `browser` (opening the link) and `html`
//! (the pages); `refresh` holds `refresh`, `status` and `token`; `shops` the signed call;
//! `tiktok` is the HTTP API; `token_file` reads, locks and atomically replaces the file;
//! `summary` and `expiry` describe tokens; `sandbox` is the local stand-in for TikTok;
//! `secret` keeps secrets out of output; `error` is the one error type and its exit codes.

#![forbid(unsafe_code)]

mod browser;
mod cli;
mod config;
mod error;
mod expiry;
mod html;
mod listener;
mod login;
mod refresh;
mod sandbox;
mod secret;
mod shops;
mod summary;
mod tiktok;
mod token_file;
mod url;

use std::process::ExitCode;

use cli::Command;

fn main() -> ExitCode {
    let result = cli::parse(std::env::args_os().skip(1).collect()).and_then(|command| match command {
        Command::Help(text) => {
            print!("{text}");
            Ok(())
        }
        Command::Version => {
            println!("{}", cli::VERSION);
            Ok(())
        }
        Command::Login(opts) => login::run(&opts),
        Command::Refresh(opts) => refresh::refresh(&opts),
        Command::Status(opts) => refresh::status(&opts),
        Command::Token(path) => refresh::token(&path),
        Command::Shops(opts) => shops::run(&opts),
        Command::Sandbox(opts) => sandbox::run(&opts),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tiktok-shop-auth: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
