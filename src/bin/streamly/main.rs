//! `streamly`: the platform as one binary.
//!
//! ```text
//! streamly serve                       # everything in one process
//! streamly serve --role api            # accounts + streams REST, web UI
//! streamly serve --role ingest         # RTMP, HLS packaging and origin
//! streamly serve --role chat           # the chat WebSocket
//! streamly serve --role api,chat       # any combination
//! streamly migrate                     # apply the database migrations, then exit
//! ```
//!
//! Every option also reads a `STREAMLY_*` environment variable
//! (`streamly serve --help` lists them). `examples/platform.rs` is the same
//! composition in plain library calls, for integrators to copy.

mod args;
mod serve;
mod setup;

use anyhow::Result;
use clap::Parser;

use args::{Cli, Command};

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    setup::init_logs(cli.log_format);
    match cli.command {
        Command::Serve(args) => serve::run(*args).await,
        Command::Migrate(args) => setup::migrate(&args.database_url).await,
    }
}
