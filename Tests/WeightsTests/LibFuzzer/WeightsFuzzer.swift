import TensorStorage

// libFuzzer entry point for the weight readers. Compiled only by the opt-in `weights-fuzzer`
// target (which defines WEIGHTS_LIBFUZZER); in the test target this file is empty.
//
//   DYNAMICRAFTER_FUZZ=1 swift build -c release --product weights-fuzzer -Xswiftc -sanitize=fuzzer,address
//   mkdir -p corpus && .build/release/weights-fuzzer -max_len=200000 corpus Tests/WeightsTests/Fixtures
#if WEIGHTS_LIBFUZZER
import Weights

/// Every input must open and read completely, or throw `WeightsError`; anything else (a
/// crash, an ASan report, another error type) is a finding.
@_cdecl("LLVMFuzzerTestOneInput")
public func weightsFuzzerTestOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
    let storage = ByteStorage(count: size) { dst in
        if let data, size > 0 { dst.copyMemory(from: UnsafeRawBufferPointer(start: data, count: size)) }
    }
    do {
        let archive = try WeightFile.open(storage: storage, path: "fuzz-input")
        for name in archive.names {
            let t = try archive.tensor(named: name)
            withExtendedLifetime(t) {
                if let first = t.bytes.first, let last = t.bytes.last { _ = first &+ last }
            }
        }
    } catch is WeightsError {
        // Rejected cleanly.
    } catch {
        fatalError("unexpected error type \(type(of: error)): \(error)")
    }
    return 0
}

/// SwiftPM links an executable target's entry point as `<module>_main`; hand control to the
/// libFuzzer driver from there.
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>?, Int) -> Int32
) -> Int32

@_cdecl("WeightsFuzzer_main")
public func weightsFuzzerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    var count = argc
    var arguments = argv
    return LLVMFuzzerRunDriver(&count, &arguments, weightsFuzzerTestOneInput)
}
#endif
