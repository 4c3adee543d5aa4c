import TensorCore
import TensorStorage

/// Element-wise combinations of same-shape tensors for the multistep solvers, evaluated in
/// float64 and rounded once to float32. The latent is small next to the network, so plain loops
/// do; the callers check shapes.
enum SolverArithmetic {
    static func map(_ a: Tensor, _ b: Tensor, _ f: (Double, Double) -> Double) -> Tensor {
        Tensor(shape: a.shape) { out in
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    for i in out.indices { out[i] = Float(f(Double(pa[i]), Double(pb[i]))) }
                }
            }
        }
    }

    static func map(_ a: Tensor, _ b: Tensor, _ c: Tensor, _ f: (Double, Double, Double) -> Double) -> Tensor {
        Tensor(shape: a.shape) { out in
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeBufferPointer { pc in
                        for i in out.indices { out[i] = Float(f(Double(pa[i]), Double(pb[i]), Double(pc[i]))) }
                    }
                }
            }
        }
    }

    static func map(_ a: Tensor, _ b: Tensor, _ c: Tensor, _ d: Tensor,
                    _ f: (Double, Double, Double, Double) -> Double) -> Tensor {
        Tensor(shape: a.shape) { out in
            a.withUnsafeBufferPointer { pa in
                b.withUnsafeBufferPointer { pb in
                    c.withUnsafeBufferPointer { pc in
                        d.withUnsafeBufferPointer { pd in
                            for i in out.indices {
                                out[i] = Float(f(Double(pa[i]), Double(pb[i]), Double(pc[i]), Double(pd[i])))
                            }
                        }
                    }
                }
            }
        }
    }
}
