/// Why the model benchmark stopped (configuration it cannot run, a stage that failed).
struct ModelBenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
