import Foundation
import Testing
import TestingSupport

/// The plugin as GStreamer sees it, no daemon needed: it builds, keeps the Swift runtime out
/// of GStreamer processes, and gst-inspect-1.0 shows a documented element.
@Suite struct PluginBuildTests {
    /// Every property issue 5 asks for; each must be documented with its default (and range).
    static let properties: [(name: String, numeric: Bool)] = [
        ("prompt", false), ("frames", true), ("steps", true), ("cfg-scale", true),
        ("image-cfg-scale", true), ("eta", true), ("sampler", false), ("seed", true), ("frame-stride", true), ("fps", true),
        ("mode", false), ("cache-interval", true), ("model", false), ("bus", false), ("service-name", false),
        ("latency", true), ("clips-done", true),
    ]

    @Test func pluginLinksNoSwiftRuntimeAndExportsOnlyItsEntryPoints() async throws {
        try await PluginEnvironment.buildPlugin()
        let ldd = try await Command("/usr/bin/ldd", [PluginEnvironment.pluginPath], timeout: .seconds(30)).runOnThread()
        #expect(ldd.status == 0, "\(ldd)")
        #expect(!ldd.stdout.lowercased().contains("swift"), "the plugin must not load the Swift runtime:\n\(ldd.stdout)")
        #expect(ldd.stdout.contains("libgstreamer-1.0.so"))
        #expect(ldd.stdout.contains("libgio-2.0.so"))

        // GStreamer finds the plugin's descriptor by the file name: libgstNAME.so exports
        // gst_plugin_NAME_get_desc (and GST_PLUGIN_DEFINE's _register). Nothing else leaks.
        let symbols = try await Command(
            "/usr/bin/nm", ["-D", "--defined-only", PluginEnvironment.pluginPath], timeout: .seconds(30)
        ).runOnThread()
        #expect(symbols.status == 0, "\(symbols)")
        let exported = symbols.stdout.split(separator: "\n").compactMap { line -> String? in
            let fields = line.split(separator: " ")
            return fields.count == 3 && fields[1] == "T" ? String(fields[2]) : nil
        }
        #expect(exported.sorted() == ["gst_plugin_dynamicrafter_get_desc", "gst_plugin_dynamicrafter_register"],
                "exported: \(exported)")
    }

    @Test func inspectShowsTheDocumentedElement() async throws {
        try await PluginEnvironment.buildPlugin()
        let result = try await Command(
            PluginEnvironment.gstInspect, ["dynamicrafter"],
            environment: PluginEnvironment.gstEnvironment(), timeout: .seconds(60)
        ).runOnThread()
        #expect(result.status == 0, "\(result)")
        let text = result.stdout
        #expect(text.contains("Long-name                DynamiCrafter image animator"))
        #expect(text.contains("Filename                 \(PluginEnvironment.pluginPath)"))
        let description = text.split(separator: "\n").first { $0.contains("  Description  ") && $0.contains("clip") }
        #expect(description?.contains("gst-launch-1.0 filesrc location=photo.jpg ! decodebin ! videoconvert ! dynamicrafter") == true,
                "the description carries a launch line: \(String(describing: description))")

        let blocks = Self.propertyBlocks(text)
        for property in Self.properties {
            let block = try #require(blocks[property.name], "gst-inspect lists no property \(property.name)")
            let blurb = block.first ?? ""
            #expect(blurb.count > 15, "\(property.name) is documented: '\(blurb)'")
            #expect(block.contains { $0.contains("Default:") }, "\(property.name) shows its default: \(block)")
            if property.numeric {
                #expect(block.contains { $0.contains("Range:") }, "\(property.name) shows its range: \(block)")
            }
        }
        #expect(blocks["mode"]?.contains { $0.contains("interpolate") } == true)
        #expect(blocks["sampler"]?.contains { $0.contains("dpmpp-2m") } == true)
        #expect(blocks["sampler"]?.contains { $0.contains("Default: 0, \"ddim\"") } == true)
        #expect(blocks["latency"]?.contains { $0.contains("flags: readable") && !$0.contains("writable") } == true)
        // Sink: the packed RGB family the element converts itself; source: RGB only.
        #expect(text.contains("(string)BGRx") && text.contains("(string)RGBA"))
    }

    @Test func inspectFindsThePluginByItsFileName() async throws {
        try await PluginEnvironment.buildPlugin()
        let result = try await Command(
            PluginEnvironment.gstInspect, [PluginEnvironment.pluginPath],
            environment: PluginEnvironment.gstEnvironment(), timeout: .seconds(60)
        ).runOnThread()
        #expect(result.status == 0, "\(result)")
        #expect(result.stdout.contains("Name                     dynamicrafter"))
        #expect(result.stdout.contains("dynamicrafter: DynamiCrafter image animator"))
        // A named licence, not GST_LICENSE_UNKNOWN.
        let license = result.stdout.split(separator: "\n").first { $0.hasPrefix("  License ") }
        #expect(license != nil && license?.hasSuffix(" unknown") == false, "license line: \(String(describing: license))")
    }

    /// gst-inspect's "Element Properties" as name → [blurb, detail lines…].
    static func propertyBlocks(_ text: String) -> [String: [String]] {
        var blocks: [String: [String]] = [:]
        var current: String?
        var inProperties = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("Element Properties:") {
                inProperties = true
                continue
            }
            guard inProperties else { continue }
            if !line.isEmpty && !line.hasPrefix(" ") { break }
            // "  name                : blurb"
            if line.hasPrefix("  "), !line.hasPrefix("   "), let colon = line.firstIndex(of: ":") {
                let name = line[..<colon].trimmingCharacters(in: .whitespaces)
                current = name
                blocks[name] = [line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)]
            } else if let current, !line.trimmingCharacters(in: .whitespaces).isEmpty {
                blocks[current, default: []].append(line.trimmingCharacters(in: .whitespaces))
            }
        }
        return blocks
    }
}
