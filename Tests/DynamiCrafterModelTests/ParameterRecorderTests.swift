import DynamiCrafterModel
import Foundation
import TensorCore
import Testing
import Weights

@Suite struct ParameterRecorderTests {
    @Test func recordsEachKeyOnceInOrderAndRefusesASecondShape() throws {
        let recorder = ParameterRecorder()
        let source = recorder.source.scoped("block")
        _ = try source.tensor("weight", shape: [4, 3])
        _ = try source.floats("bias", shape: [4])
        _ = try source.tensor("weight", shape: [4, 3])
        try source.declare("scale", shape: [])
        #expect(recorder.entries.map(\.key) == ["block.weight", "block.bias", "block.scale"])
        #expect(recorder.entries.map(\.shape) == [[4, 3], [4], []])
        #expect(throws: ParameterRecordingError.conflictingShapes(key: "block.weight", first: [4, 3], second: [3, 4])) {
            _ = try source.tensor("weight", shape: [3, 4])
        }
        #expect(throws: ParameterRecordingError.invalidShape(key: "block.bad", shape: [-1])) {
            _ = try source.tensor("bad", shape: [-1])
        }
    }

    @Test func placeholdersHaveTheShapeAndHoldZeros() throws {
        let source = ParameterRecorder().source
        let data = try source.tensor("w", shape: [3, 5])
        #expect(data.shape == [3, 5] && data.dtype == .f32 && !data.isFileMapped)
        #expect(data.toTensor().scalars == Array(repeating: 0, count: 15))
        #expect(try source.floats("b", shape: [2, 2]).scalars == [0, 0, 0, 0])
        #expect(!source.contains("w") && source.storedShape("w") == nil)
    }

    @Test func blocksBuiltFromPlaceholdersRefuseToRun() throws {
        let recorder = ParameterRecorder()
        let linear = try Linear(recorder.source.scoped("fc"), inFeatures: 3, outFeatures: 2, context: recorder.context)
        #expect(linear.inFeatures == 3 && linear.outFeatures == 2)
        #expect(throws: ParameterRecordingError.placeholderRun(operation: "Linear")) {
            _ = try linear.callAsFunction(Tensor(zeros: [1, 3]))
        }
        let conv = try Conv2d(recorder.source.scoped("conv"), inChannels: 2, outChannels: 4, kernel: 3, padding: 1,
                              context: recorder.context)
        #expect(throws: ParameterRecordingError.placeholderRun(operation: "Conv2d")) {
            _ = try conv.callAsFunction(Tensor(zeros: [1, 4, 4, 2]))
        }
        // A weight of the wrong rank is refused as by a real backend.
        #expect(throws: TensorError.self) {
            _ = try recorder.context.backend.makeLinear(weight: recorder.source.tensor("w3", shape: [2, 3, 1]),
                                                        bias: nil, precision: .f32)
        }
    }
}
