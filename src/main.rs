fn main() -> std::process::ExitCode {
    edigate::cli::main()
}
