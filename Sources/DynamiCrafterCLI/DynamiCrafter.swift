import ArgumentParser

@main
struct DynamiCrafter: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dynamicrafter",
        abstract: "Animate still images with the DynamiCrafter video diffusion model.",
        version: "0.1.0",
        subcommands: [AnimateCommand.self, ModelsCommand.self, DemoModelCommand.self, CheckReferenceCommand.self, InspectCommand.self, ConvertCommand.self, BenchCommand.self]
    )
}
