//! `autotask-events sim`: runs the Autotask simulator until interrupted.

use std::net::SocketAddr;
use std::process::ExitCode;

use autotask_sim::{SimConfig, Simulator};
use clap::Args;

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Where to listen.
    #[arg(long, default_value = "127.0.0.1:8089")]
    pub listen: SocketAddr,
    /// The seed of the generated data: the same seed gives the same records.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// How many Tickets to generate (and as many TicketNotes).
    #[arg(long, default_value_t = 500)]
    pub tickets: usize,
    /// How many Companies to generate.
    #[arg(long, default_value_t = 50)]
    pub companies: usize,
    /// How many Contacts to generate.
    #[arg(long, default_value_t = 200)]
    pub contacts: usize,
    /// Changes the simulator makes to its own data each minute (new tickets, status changes, notes...).
    #[arg(long, default_value_t = 0.0)]
    pub churn: f64,
    /// The API user it accepts.
    #[arg(long, default_value = "sim@example.com")]
    pub user: String,
    /// The API secret it accepts.
    #[arg(long, default_value = "sim-secret")]
    pub secret: String,
    /// The API integration code it accepts.
    #[arg(long, default_value = "SIMCODE")]
    pub integration_code: String,
    /// Requests allowed per rolling hour (Autotask: 10,000).
    #[arg(long, default_value_t = 10_000)]
    pub threshold: usize,
}

pub fn run(args: &SimArgs) -> ExitCode {
    super::block_on(serve(args))
}

async fn serve(args: &SimArgs) -> ExitCode {
    let config = SimConfig {
        listen: args.listen,
        seed: args.seed,
        tickets: args.tickets,
        companies: args.companies,
        contacts: args.contacts,
        churn_per_minute: args.churn,
        user: args.user.clone(),
        secret: args.secret.clone(),
        integration_code: args.integration_code.clone(),
        threshold: args.threshold,
        ..SimConfig::default()
    };
    let simulator = match Simulator::start(config).await {
        Ok(simulator) => simulator,
        Err(error) => {
            eprintln!("error: cannot listen on {}: {error}", args.listen);
            return ExitCode::FAILURE;
        }
    };
    // The simulator's own credentials are test values, printed so a user can copy them.
    println!("Autotask simulator listening on {}", simulator.url());
    println!("  server.url       {}", simulator.url());
    println!("  username         {}", args.user);
    println!("  secret           {}", args.secret);
    println!("  integration code {}", args.integration_code);
    println!(
        "  data             {} tickets, {} companies, {} contacts (seed {}), churn {}/min",
        args.tickets, args.companies, args.contacts, args.seed, args.churn
    );
    println!("  control API      {}/sim/  (stats, faults, create/patch/delete records)", simulator.url());
    if let Err(error) = tokio::signal::ctrl_c().await {
        eprintln!("error: cannot wait for Ctrl-C: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
