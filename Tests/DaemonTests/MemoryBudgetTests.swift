import TestingSupport
import DBusKit
import Foundation
import Testing

/// The memory budget over D-Bus: a model or job that would not fit is refused with
/// InsufficientMemory (both figures in the message) and the daemon keeps serving; the
/// precision setting is reported. The budget is injected with DYNAMICRAFTER_MEMORY_BUDGET.
@Suite("dynamicrafterd memory budget", .serialized)
struct MemoryBudgetTests {
    @Test("a budget too small for the model: LoadModel and Animate fail with InsufficientMemory, the daemon goes on")
    func refused() async throws {
        try await DaemonBus.with(environment: ["DYNAMICRAFTER_MEMORY_BUDGET": "64M"]) { _, connection in
            let name = DaemonBus.errorPrefix + "InsufficientMemory"
            let load = await dbusError { _ = try await connection.manager("LoadModel", [.string("demo")]) }
            #expect(load?.name == name)
            #expect(load?.message.contains("not enough memory") == true)
            #expect(load?.message.contains("64.00 MiB available (DYNAMICRAFTER_MEMORY_BUDGET)") == true)
            let png = try Fixtures.png(width: 64, height: 64)
            let animate = await dbusError { _ = try await connection.animate(imagePath: png, quickJob()) }
            #expect(animate?.name == name)
            #expect(animate?.message.contains("demo") == true)
            // Still serving: nothing loaded, nothing queued, the model list answers.
            #expect(try await connection.managerProperty("LoadedModel") == .string(""))
            #expect(try await connection.managerProperty("QueueLength") == .uint32(0))
            #expect(try await connection.managerProperty("State") == .string("idle"))
            let models = try await connection.manager("GetModels")
            let facts = try #require(models.first?.arrayElements?.first?.structureFields?.last?.vardictValue)
            #expect(facts["precision"] == .string("f32"))
            let memory = try #require(facts["memory"]?.uint64Value)
            #expect(memory > 64 << 20, "the estimate exceeds the budget that refused it")
        }
    }

    @Test("bf16 precision: reported, loaded and run; enough budget lets the job through")
    func bf16() async throws {
        try await DaemonBus.with(arguments: ["--precision", "bf16"], environment: ["DYNAMICRAFTER_MEMORY_BUDGET": "8G"]) { bus, connection in
            #expect(try await connection.managerProperty("Precision") == .string("bf16"))
            let signals = try await JobSignals.subscribe(connection)
            let png = try Fixtures.png(width: 64, height: 64)
            let job = try await connection.animate(imagePath: png, quickJob())
            let done = try await signals.waitForCompletion(of: job)
            #expect(done.success, "\(done.errorName): \(done.message)")
            let models = try await connection.manager("GetModels")
            let facts = try #require(models.first?.arrayElements?.first?.structureFields?.last?.vardictValue)
            #expect(facts["precision"] == .string("bf16"))
            #expect(facts["loaded"] == .bool(true))
            #expect(bus.log.contains("loaded demo (bf16) in "), "the load line: \(bus.log)")
        }
    }
}
