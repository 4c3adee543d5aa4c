import Foundation
#if canImport(Yams)
import Yams
#endif

// YAML input: the reference ships its configurations as YAML, parsed with Yams. A build
// without Yams (canImport fails) still reads JSON with the same keys, and `decode(yaml:)`
// then says that YAML is not available.

extension ModelConfig {
    /// Whether this build can read YAML configurations.
    public static var supportsYAML: Bool {
        #if canImport(Yams)
        true
        #else
        false
        #endif
    }

    /// Decodes a configuration from YAML text (the reference's `configs/*.yaml`), with the same
    /// strict key checking and validation as `decode(json:)`.
    public static func decode(yaml text: String) throws -> ModelConfig {
        #if canImport(Yams)
        let collector = UnknownKeyCollector()
        let config: ModelConfig
        do {
            config = try YAMLDecoder().decode(ModelConfig.self, from: text,
                                              userInfo: [UnknownKeyCollector.userInfoKey: collector])
        } catch let error as ModelConfigError {
            throw error
        } catch {
            if !collector.all.isEmpty { throw ModelConfigError.unknownOptions(collector.all.sorted()) }
            throw ModelConfigError.malformed(String(describing: error))
        }
        if !collector.all.isEmpty { throw ModelConfigError.unknownOptions(collector.all.sorted()) }
        try config.validate()
        return config
        #else
        throw ModelConfigError.malformed("YAML configurations need the Yams package, which this build does not include; convert the file to JSON (same keys)")
        #endif
    }

}
