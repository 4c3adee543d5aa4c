import Foundation
import TensorStorage
import Testing
import TestingSupport
import Weights

/// `dynamicrafter inspect` and `convert`, run as the user runs them.
@Suite struct InspectCommandTests {
    @Test(arguments: ["ckpt_edge_cases", "ckpt_subset_legacy"])
    func tsvOfCheckpointEqualsTsvOfExpectedSafetensors(_ name: String) throws {
        let ckpt = try CLIRunner.run(["inspect", "--tsv", CLIRunner.fixture("\(name).ckpt")])
        let expected = try CLIRunner.run(["inspect", "--tsv", CLIRunner.fixture("\(name).expected.safetensors")])
        #expect(ckpt.status == 0 && expected.status == 0, "\(ckpt.stderr)\(expected.stderr)")
        #expect(ckpt.stderr.isEmpty)
        #expect(!ckpt.stdout.isEmpty)
        #expect(ckpt.stdout == expected.stdout)
    }

    @Test func tsvFormat() throws {
        let result = try CLIRunner.run(["inspect", "--tsv", CLIRunner.fixture("ckpt_edge_cases.ckpt")])
        #expect(result.status == 0)
        #expect(result.stdout == """
            empty\tF32\t0,4
            fp16\tF16\t3,5
            int64\tI64\t7
            offset_view\tF32\t6
            scalar\tF32\t
            shared_a\tF32\t3,4
            shared_b\tF32\t12
            transposed\tF32\t10,6

            """)
    }

    @Test func table() throws {
        let path = CLIRunner.fixture("ckpt_edge_cases.ckpt")
        let result = try CLIRunner.run(["inspect", path])
        #expect(result.status == 0)
        let out = result.stdout
        #expect(out.contains("\(path): PyTorch zip checkpoint, 8 tensors"))
        #expect(out.contains("other top-level entries: epoch, global_step, pytorch-lightning_version"))
        #expect(out.contains("NAME        "))
        #expect(out.range(of: #"transposed +F32 +\[10, 6\] +60\n"#, options: .regularExpression) != nil)
        #expect(out.range(of: #"scalar +F32 +\[\] +1\n"#, options: .regularExpression) != nil)
        #expect(out.contains("Tensors: 8\n"))
        #expect(out.contains("Parameters: 113\n"))
        #expect(out.contains("Tensor bytes: 450 (450 bytes)"))
    }

    @Test func tableGroupsByPrefix() throws {
        let result = try CLIRunner.run(["inspect", CLIRunner.fixture("ckpt_subset_legacy.ckpt")])
        #expect(result.status == 0)
        let out = result.stdout
        #expect(out.range(of: #"\n  model\.diffusion_model +26,113\n"#, options: .regularExpression) != nil)
        #expect(out.range(of: #"\n  cond_stage_model +3,072\n"#, options: .regularExpression) != nil)
        #expect(out.range(of: #"\n  \(top level\) +1,000\n"#, options: .regularExpression) != nil)
        #expect(out.range(of: #"\n  embedder +64\n"#, options: .regularExpression) != nil)
        #expect(out.contains("Parameters: 30,249"))
        #expect(out.contains("Tensor bytes: 120,996 (118.16 KiB)"))
    }
}

@Suite struct ConvertCommandTests {
    /// Converting keeps names, shapes and integer data, and rounds floats as asked.
    @Test(arguments: [("f16", DType.f16, Float(1.0 / 1024)), ("bf16", DType.bf16, Float(1.0 / 128))])
    func convertsFloatsAndCopiesIntegers(_ flag: String, _ dtype: DType, _ tolerance: Float) throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let out = dir + "/out.safetensors"
            let result = try CLIRunner.run(["convert", CLIRunner.fixture("ckpt_edge_cases.ckpt"), out, "--dtype", flag])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("8 tensors"))
            #expect(result.stdout.contains("converted to \(dtype.rawValue)"))
            let converted = try WeightFile.open(out)
            let expected = try WeightFile.open(CLIRunner.fixture("ckpt_edge_cases.expected.safetensors"))
            #expect(converted.names == expected.names)
            for name in expected.names {
                let e = try expected.tensor(named: name)
                let c = try converted.tensor(named: name)
                #expect(c.shape == e.shape, "\(name)")
                if e.dtype.isFloatingPoint {
                    #expect(c.dtype == dtype, "\(name)")
                    let a = c.toTensor().scalars
                    let b = e.toTensor().scalars
                    for (x, y) in zip(a, b) {
                        #expect(abs(x - y) <= tolerance * max(abs(y), 1e-3), "\(name): \(x) vs \(y)")
                    }
                    // Bit for bit the rounding of TensorCore's conversion.
                    let reference = try e.converted(to: dtype)
                    #expect(withExtendedLifetime((c, reference)) { c.bytes.elementsEqual(reference.bytes) }, "\(name)")
                } else {
                    #expect(c.dtype == e.dtype, "\(name)")
                    #expect(withExtendedLifetime((c, e)) { c.bytes.elementsEqual(e.bytes) }, "\(name)")
                }
            }
            // And back to f32: the same values as the rounded file.
            let back = dir + "/back.safetensors"
            #expect(try CLIRunner.run(["convert", out, back, "--dtype", "f32"]).status == 0)
            let f32 = try WeightFile.open(back)
            #expect(f32.info(named: "fp16")?.dtype == .f32)
            #expect(f32.info(named: "int64")?.dtype == .i64)
            #expect(try f32.tensor(named: "transposed").toTensor().scalars == (try converted.tensor(named: "transposed")).toTensor().scalars)
        }
    }

    /// Without --dtype the output is exactly what the reference safetensors writer produced.
    @Test(arguments: ["ckpt_edge_cases", "ckpt_subset_legacy"])
    func convertKeepsDtypesByteForByte(_ name: String) throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let out = dir + "/\(name).safetensors"
            let result = try CLIRunner.run(["convert", CLIRunner.fixture("\(name).ckpt"), out])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.contains("saved"))
            let written = try Data(contentsOf: URL(fileURLWithPath: out))
            let expected = try Data(contentsOf: URL(fileURLWithPath: CLIRunner.fixture("\(name).expected.safetensors")))
            #expect(written == expected)
            #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["\(name).safetensors"])
        }
    }
}

/// Every failure is one clear line naming the file, and exit status 1.
@Suite struct CLIErrorTests {
    static func expectFailure(_ arguments: [String], naming path: String, containing fragment: String,
                              sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try CLIRunner.run(arguments)
        #expect(result.status == 1, "exit status \(result.status)", sourceLocation: sourceLocation)
        #expect(result.stderr.hasPrefix("error: \(path)"), "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(result.stderr.contains(fragment), "\(result.stderr)", sourceLocation: sourceLocation)
        #expect(!result.stderr.contains("Fatal error") && !result.stderr.contains("Crash"), sourceLocation: sourceLocation)
    }

    @Test func missingFileAndDirectory() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let missing = dir + "/missing.ckpt"
            try Self.expectFailure(["inspect", missing], naming: missing, containing: "no such file")
            try Self.expectFailure(["inspect", "--tsv", missing], naming: missing, containing: "no such file")
            try Self.expectFailure(["convert", missing, dir + "/o.safetensors"], naming: missing, containing: "no such file")
            try Self.expectFailure(["inspect", dir], naming: dir, containing: "directory")
        }
    }

    @Test func damagedFiles() throws {
        let ckpt = try Data(contentsOf: URL(fileURLWithPath: CLIRunner.fixture("ckpt_edge_cases.ckpt")))
        let st = try Data(contentsOf: URL(fileURLWithPath: CLIRunner.fixture("ckpt_edge_cases.expected.safetensors")))
        try CLIRunner.withTemporaryDirectory { dir in
            let cases: [(String, Data, String)] = [
                ("cut.ckpt", ckpt.prefix(2000), "truncated"),
                ("cut.safetensors", st.prefix(700), "past the end"),
                ("header.safetensors", Data([0xFF, 0xFF, 0, 0, 0, 0, 0, 0, 0x7B, 0x7D]), "larger than the file"),
                ("garbage.bin", Data("hello, these are not weights".utf8), "not a safetensors file or a PyTorch zip checkpoint"),
                ("empty.ckpt", Data(), "too short"),
            ]
            for (name, bytes, fragment) in cases {
                let path = dir + "/" + name
                try bytes.write(to: URL(fileURLWithPath: path))
                try Self.expectFailure(["inspect", path], naming: path, containing: fragment)
                try Self.expectFailure(["convert", path, dir + "/out.safetensors"], naming: path, containing: fragment)
            }
            #expect(!FileManager.default.fileExists(atPath: dir + "/out.safetensors"))
        }
    }

    @Test func compressedEntry() throws {
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: CLIRunner.fixture("ckpt_edge_cases.ckpt"))))
        // Mark data.pkl as deflated in its local header and its central record.
        bytes[8] = 8
        let central: [UInt8] = [0x50, 0x4B, 0x01, 0x02]
        let record = try #require((0 ..< bytes.count - 4).first { bytes[$0 ..< $0 + 4].elementsEqual(central) })
        bytes[record + 10] = 8
        try CLIRunner.withTemporaryDirectory { dir in
            let path = dir + "/deflated.ckpt"
            try Data(bytes).write(to: URL(fileURLWithPath: path))
            try Self.expectFailure(["inspect", path], naming: path, containing: "compressed (deflate)")
        }
    }

    @Test func unwritableOutput() throws {
        try CLIRunner.withTemporaryDirectory { dir in
            let out = dir + "/no/such/dir/out.safetensors"
            try Self.expectFailure(["convert", CLIRunner.fixture("ckpt_edge_cases.ckpt"), out], naming: out, containing: "cannot create")
        }
    }
}
