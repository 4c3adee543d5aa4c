import ArgumentParser

@main
struct Daemon: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "dynamicrafterd")
}
