fn main() -> std::process::ExitCode {
    docker_extension_tool::main()
}
