//! `autotask-events template render URL --at T [--tz ZONE] [--autotask]`: prints a
//! poll URL as a poll at that time would request it, or with `--autotask` the
//! Autotask REST query that URL becomes, to check a resource's configuration
//! before it polls.

use std::process::ExitCode;

use clap::Args;
use simple_date_format::Zone;

use engine::dates::parse_instant;
use engine::source::hub::autotask_query;
use engine::source::template::UrlTemplate;

#[derive(Debug, Args)]
pub struct RenderArgs {
    /// A Cloud Elements poll URL with `${date:...}`-style placeholders.
    pub url: String,
    /// The instant to render at (RFC 3339): the previous poll time minus the resource's pollDelay.
    #[arg(long)]
    pub at: String,
    /// The zone `${date:...}` uses: an IANA name, a Java short ID or an offset.
    #[arg(long, default_value = "UTC")]
    pub tz: String,
    /// Print the Autotask query the URL becomes (`{"entity":...,"body":...}`, one line of JSON) instead.
    #[arg(long)]
    pub autotask: bool,
}

pub(super) fn run(args: &RenderArgs) -> ExitCode {
    match render(args) {
        Ok(url) => {
            println!("{url}");
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn render(args: &RenderArgs) -> Result<String, String> {
    let at = parse_instant(&args.at).map_err(|e| format!("--at `{}` is not an RFC 3339 date: {e}", args.at))?;
    let zone = Zone::parse(&args.tz).map_err(|e| format!("--tz: {e}"))?;
    let template = UrlTemplate::new(&args.url).map_err(|e| e.to_string())?;
    let url = template.render(at, &zone);
    if !args.autotask {
        return Ok(url);
    }
    let query = autotask_query(&url).map_err(|e| e.to_string())?;
    Ok(serde_json::to_string(&query).expect("a query serializes"))
}
