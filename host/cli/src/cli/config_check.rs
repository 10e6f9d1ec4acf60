//! `autotask-events config check`: reads the configuration exactly as `serve`
//! will, loads every resource's plugin, and lists every problem with its file
//! and key. Exits 0 when there is none, 1 otherwise.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

use engine::config::{self, Problem};
use engine::service::plugins::{existing_plugin_file, expected_plugin_files, plugin_file_or_default, plugin_path};
use plugin_runtime::{Limits, PluginRuntime};

#[derive(Debug, Args)]
pub struct ConfigCheckArgs {
    /// The configuration file (TOML).
    #[arg(long)]
    pub config: PathBuf,
}

pub fn run(args: &ConfigCheckArgs) -> ExitCode {
    let config = match config::load(&args.config) {
        Ok(config) => config,
        Err(problems) => {
            for problem in &problems.0 {
                println!("{problem}");
            }
            eprintln!("{} problem(s) in the configuration", problems.0.len());
            return ExitCode::FAILURE;
        }
    };
    let runtime = match PluginRuntime::new(Limits::default()) {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the plugin runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let mut problems = Vec::new();
    for (index, configured) in config.instances.iter().enumerate() {
        let instance = &configured.instance;
        println!(
            "instance `{}` ({}): {} resource(s), every {}s, events {}",
            configured.id,
            instance.name,
            instance.resources.len(),
            instance.refresh_interval.as_secs_f64(),
            if instance.events_enabled { "enabled" } else { "disabled" }
        );
        for resource in &instance.resources {
            let key = plugin_path(&config.server.plugin_dir, configured, &resource.name);
            // Two plugin files for one resource is the service's error to report; here the first is checked.
            let found = existing_plugin_file(&key);
            let path = plugin_file_or_default(&key);
            let plugin = if found.is_some() {
                match runtime.load_file(&path) {
                    Ok(_) => format!("plugin {}", path.display()),
                    Err(error) => {
                        problems.push(Problem {
                            file: args.config.clone(),
                            key: format!("instance[{index}].plugins.{}", resource.name),
                            message: error.to_string(),
                        });
                        continue;
                    }
                }
            } else if resource.name == "incidents" && !configured.plugins.contains_key("incidents") {
                format!("built-in plugin (written to {} on first start)", path.display())
            } else {
                problems.push(Problem {
                    file: args.config.clone(),
                    key: format!("instance[{index}].plugins.{}", resource.name),
                    message: format!(
                        "no plugin for resource `{}`: {} does not exist",
                        resource.name,
                        expected_plugin_files(&key)
                    ),
                });
                continue;
            };
            println!("  {} -> {} ({plugin})", resource.name, resource.entity);
        }
    }
    for problem in &problems {
        println!("{problem}");
    }
    if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        eprintln!("{} problem(s) in the configuration", problems.len());
        ExitCode::FAILURE
    }
}
