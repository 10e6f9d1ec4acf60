//! Prints realistic Autotask Tickets as a JSON array, to try plugins on:
//! `cargo run --example sample_tickets -- [COUNT] [SEED]`.

use autotask_sim::sample;

fn main() {
    let mut args = std::env::args().skip(1);
    let count = args.next().map_or(5, |a| a.parse().expect("COUNT is a number"));
    let seed = args.next().map_or(1, |a| a.parse().expect("SEED is a number"));
    let tickets = sample::tickets(seed, 1, count, sample::sample_epoch());
    println!("{}", serde_json::to_string_pretty(&tickets).expect("tickets serialize"));
}
