/// A value built by the pickle machine: the Python objects torch.save emits, with everything
/// the loader does not need reduced to an opaque placeholder.
///
/// Containers are Swift values, not shared references. Python mutates a memoized list or dict
/// in place; here the memo keeps the container as it was when memoized. torch.save never
/// fetches a container from the memo after filling it, and value semantics make cycles (and
/// the unbounded recursion they cause) impossible. Containers carry their nesting depth so the
/// machine can refuse deep structures before releasing them would overflow the stack.
indirect enum PickleValue: Sendable {
    case none
    case bool(Bool)
    case int(Int)
    /// An integer outside `Int`'s range (its value is never needed).
    case bigInt
    case float(Double)
    case string(String)
    /// Bytes whose content the loader never needs; only the length is kept.
    case bytes(count: Int)
    case tuple([PickleValue], depth: Int)
    case list([PickleValue], depth: Int)
    /// Items in insertion order; a later duplicate key overrides an earlier one when read.
    case dict([(key: PickleValue, value: PickleValue)], depth: Int)
    /// A class or function named by GLOBAL / STACK_GLOBAL.
    case global(module: String, name: String)
    /// A persistent id `("storage", type, key, location, numel)`.
    case storage(TorchStorageReference)
    /// The result of `torch._utils._rebuild_tensor_v2` and friends.
    case tensor(TorchTensorRecord)
    /// A rebuild call with arguments that do not describe a tensor; an error only if the
    /// state dict contains it.
    case badTensor(reason: String)
    /// Any other object (an instance of `typeName` or the result of calling it); its content
    /// is dropped.
    case opaque(typeName: String)

    /// Container nesting depth (0 for scalars).
    var depth: Int {
        switch self {
        case .tuple(_, let d), .list(_, let d), .dict(_, let d): d
        default: 0
        }
    }

    /// A short description for error messages; never recurses into containers.
    var summary: String {
        switch self {
        case .none: "None"
        case .bool(let b): b ? "True" : "False"
        case .int(let i): "int \(i)"
        case .bigInt: "a large int"
        case .float(let f): "float \(f)"
        case .string(let s): "str '\(s.count > 60 ? String(s.prefix(60)) + "…" : s)'"
        case .bytes(let n): "\(n) bytes"
        case .tuple(let items, _): "a tuple of \(items.count)"
        case .list(let items, _): "a list of \(items.count)"
        case .dict(let items, _): "a dict of \(items.count)"
        case .global(let m, let n): "\(m).\(n)"
        case .storage(let s): "a \(s.qualifiedTypeName) storage"
        case .tensor: "a tensor"
        case .badTensor: "an invalid tensor"
        case .opaque(let t): "a \(t) object"
        }
    }

    var intValue: Int? {
        if case .int(let i) = self { return i }
        return nil
    }

    var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    /// The items of a tuple or list.
    var sequenceItems: [PickleValue]? {
        switch self {
        case .tuple(let items, _), .list(let items, _): items
        default: nil
        }
    }

    /// A tuple or list of ints.
    var intList: [Int]? {
        guard let items = sequenceItems else { return nil }
        var out: [Int] = []
        out.reserveCapacity(items.count)
        for item in items {
            guard let i = item.intValue else { return nil }
            out.append(i)
        }
        return out
    }
}
