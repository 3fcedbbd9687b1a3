//! One file per command, each a `run`-style function taking its parsed options. What they
//! share (the store and its guard, the Open API client, the listener, the sandbox)
//! lives beside this directory, not in it.

pub mod api;
pub mod copy;
pub mod doctor;
pub mod exec;
pub mod login;
pub mod logout;
pub mod refresh;
pub mod shell;
pub mod shops;
pub mod status;
pub mod webhook;
