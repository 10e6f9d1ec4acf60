//! `autotask-events sim`: runs the Autotask simulator until interrupted, and
//! `autotask-events sim sample` prints the records its generators make, to try
//! a plugin on (`plugin check --records`) without a simulator or Autotask.

use std::io::Write;
use std::net::SocketAddr;
use std::process::ExitCode;

use autotask_sim::sample::{self, SAMPLE_ENTITIES};
use autotask_sim::{Entity, SimConfig, Simulator};
use clap::{Args, Subcommand};

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct SimArgs {
    #[command(subcommand)]
    pub command: Option<SimCommand>,
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

#[derive(Debug, Subcommand)]
pub enum SimCommand {
    /// Print generated records of one entity as a JSON array (for `plugin check --records`).
    Sample(SampleArgs),
}

#[derive(Debug, Args)]
pub struct SampleArgs {
    /// The Autotask entity: Tickets, Companies, Contacts or TicketNotes.
    #[arg(long)]
    pub entity: String,
    /// How many records.
    #[arg(long, default_value_t = 100)]
    pub count: usize,
    /// The seed of the generated data: the same seed gives the same records.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

pub fn run(args: &SimArgs) -> ExitCode {
    match &args.command {
        Some(SimCommand::Sample(sample)) => print_sample(sample),
        None => super::block_on(serve(args)),
    }
}

fn print_sample(args: &SampleArgs) -> ExitCode {
    let Some(entity) = sample_entity(&args.entity) else {
        let known: Vec<&str> = SAMPLE_ENTITIES.iter().map(|entity| entity.name()).collect();
        eprintln!(
            "error: --entity `{}` is not an entity with sample records; known: {}",
            args.entity,
            known.join(", ")
        );
        return ExitCode::FAILURE;
    };
    // Dated before the fixed sample epoch, so the same seed prints the same text every time.
    let records = sample::records(entity, args.seed, args.count, sample::sample_epoch()).expect("a sample entity");
    let text = serde_json::to_string_pretty(&records).expect("records serialize");
    let mut stdout = std::io::stdout().lock();
    match writeln!(stdout, "{text}").and_then(|()| stdout.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: cannot write the records: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The entity named `name` (any case) if it has a generator.
fn sample_entity(name: &str) -> Option<Entity> {
    Entity::from_path(name).filter(|entity| SAMPLE_ENTITIES.contains(entity))
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
