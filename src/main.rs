use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = pycom_sim::cli::Cli::parse();
    match pycom_sim::cli::main_with(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("pycom-sim: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
