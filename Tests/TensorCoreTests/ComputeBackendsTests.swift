import TensorStorage
import Testing
import TensorCore
import TestingSupport

@Suite("Backend choice")
struct ComputeBackendsTests {
    @Test("every kind can be created by name")
    func byName() throws {
        for kind in BackendKind.allCases {
            #expect(try ComputeBackends.make(named: kind.rawValue).kind == kind)
        }
        #expect(try ComputeBackends.make(named: "OpenBLAS").kind == .openblas)
    }

    @Test("the default is oneDNN where its engine starts")
    func defaultBackend() throws {
        #expect(ComputeBackends.makeDefault().kind == .onednn)
        #expect(try ComputeBackends.make(named: nil).kind == .onednn)
    }

    @Test("an unknown name is refused with the known ones listed")
    func unknown() {
        #expect(throws: TensorError.invalidArgument("unknown backend 'cuda' (known: onednn, openblas, reference)")) {
            try ComputeBackends.make(named: "cuda")
        }
    }
}
