/// Executes the pickle subset torch.save writes, without running any Python: classes are
/// names, and only the few callables a checkpoint needs (`OrderedDict`, the tensor rebuild
/// functions) are interpreted; every other call yields an opaque placeholder.
///
/// The machine is iterative (no recursion) and bounded: container nesting, open MARKs, the
/// stack and the memo have limits, and every length read from the stream is checked against
/// the bytes that remain before anything is allocated.
struct PickleMachine {
    struct Limits: Sendable {
        /// Container nesting and open MARKs. Checkpoints nest about 5 deep.
        var maxDepth = 100
        /// Values on the stack at once.
        var maxStack = 1 << 20
        /// Memo entries. A checkpoint uses about ten per tensor.
        var maxMemo = 1 << 22
    }

    private let bytes: ByteView
    private let path: String
    /// Where the pickle lives, for messages ("archive/data.pkl").
    private let label: String
    private let limits: Limits
    private var position = 0
    private var stack: [PickleValue] = []
    /// Stack heights at each open MARK.
    private var marks: [Int] = []
    private var memo: [Int: PickleValue] = [:]

    /// Runs the pickle to its STOP and returns the result.
    static func run(_ bytes: UnsafeRawBufferPointer, path: String, label: String,
                    limits: Limits = Limits()) throws -> PickleValue {
        var machine = PickleMachine(bytes: ByteView(bytes), path: path, label: label, limits: limits)
        return try machine.execute()
    }

    private init(bytes: ByteView, path: String, label: String, limits: Limits) {
        self.bytes = bytes
        self.path = path
        self.label = label
        self.limits = limits
    }

    // MARK: - Errors

    private func invalid(_ what: String, at offset: Int) -> WeightsError {
        WeightsError(.invalidPickle, path: path, "invalid pickle in \(label) at byte \(offset): \(what)")
    }

    private func tooDeep(_ what: String, at offset: Int) -> WeightsError {
        WeightsError(.limitExceeded, path: path, "pickle in \(label) at byte \(offset): \(what)")
    }

    // MARK: - Reading operands

    private mutating func take(_ count: Int, for op: UInt8, at offset: Int) throws -> UnsafeRawBufferPointer {
        guard let slice = bytes.slice(offset: position, length: count) else {
            throw WeightsError(.truncated, path: path,
                               "pickle in \(label) ends inside opcode 0x\(hex(op)) at byte \(offset) (needs \(count) more bytes, \(bytes.count - position) left)")
        }
        position += count
        return slice
    }

    private mutating func readUInt<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, for op: UInt8, at offset: Int) throws -> T {
        let raw = try take(MemoryLayout<T>.size, for: op, at: offset)
        return T(littleEndian: raw.loadUnaligned(as: T.self))
    }

    /// A length operand, checked against what is left of the stream.
    private mutating func readLength<T: FixedWidthInteger & UnsignedInteger>(_: T.Type, for op: UInt8, at offset: Int) throws -> Int {
        let n = try readUInt(T.self, for: op, at: offset)
        guard let length = UInt64(n).asInt, length <= bytes.count - position else {
            throw WeightsError(.truncated, path: path,
                               "pickle in \(label): opcode 0x\(hex(op)) at byte \(offset) declares \(n) bytes but only \(bytes.count - position) remain")
        }
        return length
    }

    private mutating func readText(length: Int, for op: UInt8, at offset: Int) throws -> String {
        let raw = try take(length, for: op, at: offset)
        guard let s = decodeUTF8(raw) else {
            throw WeightsError(.notUTF8, path: path, "pickle in \(label): string at byte \(offset) is not valid UTF-8")
        }
        return s
    }

    /// A newline-terminated operand of GLOBAL.
    private mutating func readLine(for op: UInt8, at offset: Int) throws -> String {
        let limit = min(bytes.count, position + 1024)
        var end = position
        while end < limit, bytes.bytes[end] != 0x0A { end += 1 }
        guard end < limit else {
            throw WeightsError(.truncated, path: path, "pickle in \(label): GLOBAL at byte \(offset) has no line end within 1024 bytes")
        }
        let raw = UnsafeRawBufferPointer(rebasing: bytes.bytes[position ..< end])
        position = end + 1
        guard let s = decodeUTF8(raw) else {
            throw WeightsError(.notUTF8, path: path, "pickle in \(label): GLOBAL name at byte \(offset) is not valid UTF-8")
        }
        return s
    }

    // MARK: - Stack

    /// Values above the innermost MARK are the only ones an opcode may consume.
    private var floor: Int { marks.last ?? 0 }

    private mutating func push(_ value: PickleValue, at offset: Int) throws {
        guard stack.count < limits.maxStack else {
            throw tooDeep("more than \(limits.maxStack) values on the stack", at: offset)
        }
        guard value.depth <= limits.maxDepth else {
            throw tooDeep("nesting too deep (more than \(limits.maxDepth) levels)", at: offset)
        }
        stack.append(value)
    }

    private mutating func pop(at offset: Int) throws -> PickleValue {
        guard stack.count > floor, let v = stack.popLast() else { throw invalid("stack underflow", at: offset) }
        return v
    }

    private func top(at offset: Int) throws -> PickleValue {
        guard stack.count > floor, let v = stack.last else { throw invalid("stack underflow", at: offset) }
        return v
    }

    private mutating func popToMark(at offset: Int) throws -> [PickleValue] {
        guard let m = marks.popLast() else { throw invalid("no MARK to pop to", at: offset) }
        let items = Array(stack[m...])
        stack.removeSubrange(m...)
        return items
    }

    private func containerDepth(_ items: [PickleValue]) -> Int {
        1 + items.reduce(0) { max($0, $1.depth) }
    }

    /// Takes the top value out of the stack so that it can be grown in place (the stack no
    /// longer holds a second reference to its storage); `replaceTop` puts the result back.
    private mutating func takeTop(at offset: Int) throws -> PickleValue {
        guard stack.count > floor else { throw invalid("stack underflow", at: offset) }
        let i = stack.count - 1
        let value = stack[i]
        stack[i] = .none
        return value
    }

    private mutating func replaceTop(_ value: PickleValue, at offset: Int) throws {
        guard value.depth <= limits.maxDepth else {
            throw tooDeep("nesting too deep (more than \(limits.maxDepth) levels)", at: offset)
        }
        stack[stack.count - 1] = value
    }

    private mutating func appendItems(_ items: [PickleValue], at offset: Int) throws {
        let target = try takeTop(at: offset)
        switch target {
        case .list: break
        case .opaque: try replaceTop(target, at: offset); return // content of unknown objects is dropped
        default: throw invalid("APPEND to \(target.summary)", at: offset)
        }
        // Consuming the enum leaves `existing` as the only reference, so it grows in place
        // (anything else would copy the list on every APPEND: quadratic time).
        guard case .list(var existing, let depth) = consume target else { return }
        existing.append(contentsOf: items)
        try replaceTop(.list(existing, depth: max(depth, containerDepth(items))), at: offset)
    }

    private mutating func setItems(_ items: [PickleValue], at offset: Int) throws {
        guard items.count % 2 == 0 else { throw invalid("SETITEMS with an odd number of values", at: offset) }
        let target = try takeTop(at: offset)
        switch target {
        case .dict: break
        case .opaque: try replaceTop(target, at: offset); return
        default: throw invalid("SETITEM on \(target.summary)", at: offset)
        }
        guard case .dict(var existing, let depth) = consume target else { return }
        for k in stride(from: 0, to: items.count, by: 2) {
            existing.append((items[k], items[k + 1]))
        }
        try replaceTop(.dict(existing, depth: max(depth, containerDepth(items))), at: offset)
    }

    private func makeDict(fromPairs items: [PickleValue], at offset: Int) throws -> PickleValue {
        guard items.count % 2 == 0 else { throw invalid("DICT with an odd number of values", at: offset) }
        var pairs: [(key: PickleValue, value: PickleValue)] = []
        pairs.reserveCapacity(items.count / 2)
        for k in stride(from: 0, to: items.count, by: 2) { pairs.append((items[k], items[k + 1])) }
        return .dict(pairs, depth: containerDepth(items))
    }

    private mutating func memoPut(_ index: Int, at offset: Int) throws {
        let value = try top(at: offset)
        if memo[index] == nil, memo.count >= limits.maxMemo {
            throw tooDeep("more than \(limits.maxMemo) memo entries", at: offset)
        }
        memo[index] = value
    }

    private func memoGet(_ index: Int, at offset: Int) throws -> PickleValue {
        guard let v = memo[index] else { throw invalid("memo entry \(index) was never stored", at: offset) }
        return v
    }

    // MARK: - Calls

    /// `callable(*args)` for the callables checkpoints use.
    private func call(_ callable: PickleValue, _ args: PickleValue, at offset: Int) throws -> PickleValue {
        guard case .tuple(let arguments, _) = args else {
            throw invalid("REDUCE arguments are \(args.summary), expected a tuple", at: offset)
        }
        switch callable {
        case .global(let module, let name):
            switch (module, name) {
            case ("collections", "OrderedDict"):
                if arguments.isEmpty { return .dict([], depth: 1) }
                return .opaque(typeName: "collections.OrderedDict")
            case ("torch._utils", "_rebuild_tensor_v2"), ("torch._utils", "_rebuild_tensor"):
                switch TorchTensorRecord.from(rebuildArguments: arguments) {
                case .success(let record): return .tensor(record)
                case .failure(let f): return .badTensor(reason: f.reason)
                }
            case ("torch._utils", "_rebuild_parameter"), ("torch._utils", "_rebuild_parameter_with_state"):
                // Parameter(data, requires_grad, hooks[, state]): the data is the tensor.
                if let first = arguments.first, case .tensor = first { return first }
                return .badTensor(reason: "parameter rebuild without tensor data")
            default:
                return .opaque(typeName: "\(module).\(name)")
            }
        case .opaque(let t):
            return .opaque(typeName: "\(t)(…)")
        default:
            throw invalid("REDUCE calls \(callable.summary), which is not callable", at: offset)
        }
    }

    /// `cls.__new__(cls, *args)`.
    private func instantiate(_ cls: PickleValue, at offset: Int) throws -> PickleValue {
        switch cls {
        case .global("collections", "OrderedDict"): return .dict([], depth: 1)
        case .global(let module, let name): return .opaque(typeName: "\(module).\(name)")
        case .opaque(let t): return .opaque(typeName: t)
        default: throw invalid("NEWOBJ on \(cls.summary), which is not a class", at: offset)
        }
    }

    private func persistentLoad(_ pid: PickleValue) -> PickleValue {
        guard case .tuple(let items, _) = pid, items.count == 5, items[0].stringValue == "storage",
              case .global(let module, let name) = items[1], let key = items[2].stringValue,
              let location = items[3].stringValue, let count = items[4].intValue, count >= 0
        else { return .opaque(typeName: "persistent id") }
        return .storage(TorchStorageReference(typeModule: module, typeName: name, key: key, location: location, count: count))
    }

    // MARK: - Integers

    /// A little-endian two's-complement integer of any length (LONG1 / LONG4).
    private func decodeLong(_ raw: UnsafeRawBufferPointer) -> PickleValue {
        guard let last = raw.last else { return .int(0) }
        let negative = last & 0x80 != 0
        let fill: UInt8 = negative ? 0xFF : 0x00
        // Bytes past the eighth must only repeat the sign for the value to fit in Int64.
        if raw.count > 8 {
            guard raw[8...].allSatisfy({ $0 == fill }), (raw[7] & 0x80 != 0) == negative else { return .bigInt }
        }
        var v: UInt64 = 0
        for i in (0 ..< 8).reversed() {
            v = v << 8 | UInt64(i < raw.count ? raw[i] : fill)
        }
        return .int(Int(Int64(bitPattern: v)))
    }

    // MARK: - The loop

    private mutating func execute() throws -> PickleValue {
        while true {
            let offset = position
            guard let op = bytes.u8(at: position) else {
                throw WeightsError(.truncated, path: path, "pickle in \(label) ends at byte \(offset) without a STOP opcode")
            }
            position += 1
            guard let opcode = PickleOpcode(rawValue: op) else {
                throw WeightsError(.unsupportedOpcode, path: path,
                                   "unsupported pickle opcode 0x\(hex(op))\(printable(op)) at byte \(offset) of \(label)")
            }
            switch opcode {
            case .proto:
                let version = try readUInt(UInt8.self, for: op, at: offset)
                guard version <= 5 else { throw invalid("unknown pickle protocol \(version)", at: offset) }
            case .frame:
                _ = try readLength(UInt64.self, for: op, at: offset) // framing only groups opcodes
            case .stop:
                let result = try pop(at: offset)
                return result
            case .global:
                let module = try readLine(for: op, at: offset)
                let name = try readLine(for: op, at: offset)
                try push(.global(module: module, name: name), at: offset)
            case .stackGlobal:
                let name = try pop(at: offset)
                let module = try pop(at: offset)
                guard let n = name.stringValue, let m = module.stringValue else {
                    throw invalid("STACK_GLOBAL needs two strings", at: offset)
                }
                try push(.global(module: m, name: n), at: offset)
            case .binput:
                try memoPut(Int(try readUInt(UInt8.self, for: op, at: offset)), at: offset)
            case .longBinput:
                try memoPut(Int(try readUInt(UInt32.self, for: op, at: offset)), at: offset)
            case .memoize:
                try memoPut(memo.count, at: offset)
            case .binget:
                try push(try memoGet(Int(try readUInt(UInt8.self, for: op, at: offset)), at: offset), at: offset)
            case .longBinget:
                try push(try memoGet(Int(try readUInt(UInt32.self, for: op, at: offset)), at: offset), at: offset)
            case .mark:
                guard marks.count < limits.maxDepth else {
                    throw tooDeep("nesting too deep (more than \(limits.maxDepth) open MARKs)", at: offset)
                }
                marks.append(stack.count)
            case .pop:
                if stack.count > floor { stack.removeLast() } else { _ = try popToMark(at: offset) }
            case .popMark:
                _ = try popToMark(at: offset)
            case .dup:
                try push(try top(at: offset), at: offset)
            case .emptyDict:
                try push(.dict([], depth: 1), at: offset)
            case .dict:
                let items = try popToMark(at: offset)
                try push(try makeDict(fromPairs: items, at: offset), at: offset)
            case .emptyList, .emptySet:
                try push(.list([], depth: 1), at: offset)
            case .list, .frozenSet:
                let items = try popToMark(at: offset)
                try push(.list(items, depth: containerDepth(items)), at: offset)
            case .emptyTuple:
                try push(.tuple([], depth: 1), at: offset)
            case .tuple:
                let items = try popToMark(at: offset)
                try push(.tuple(items, depth: containerDepth(items)), at: offset)
            case .tuple1, .tuple2, .tuple3:
                let n = Int(op - PickleOpcode.tuple1.rawValue) + 1
                var items: [PickleValue] = []
                for _ in 0 ..< n { items.append(try pop(at: offset)) }
                items.reverse()
                try push(.tuple(items, depth: containerDepth(items)), at: offset)
            case .setitem:
                let value = try pop(at: offset)
                let key = try pop(at: offset)
                try setItems([key, value], at: offset)
            case .setitems:
                try setItems(try popToMark(at: offset), at: offset)
            case .append:
                try appendItems([try pop(at: offset)], at: offset)
            case .appends, .addItems:
                try appendItems(try popToMark(at: offset), at: offset)
            case .binint:
                let raw = try readUInt(UInt32.self, for: op, at: offset)
                try push(.int(Int(Int32(bitPattern: raw))), at: offset)
            case .binint1:
                try push(.int(Int(try readUInt(UInt8.self, for: op, at: offset))), at: offset)
            case .binint2:
                try push(.int(Int(try readUInt(UInt16.self, for: op, at: offset))), at: offset)
            case .long1:
                let n = try readLength(UInt8.self, for: op, at: offset)
                try push(decodeLong(try take(n, for: op, at: offset)), at: offset)
            case .long4:
                let raw = try readUInt(UInt32.self, for: op, at: offset)
                let n = Int(Int32(bitPattern: raw))
                guard n >= 0, n <= bytes.count - position else { throw invalid("LONG4 with bad length \(n)", at: offset) }
                try push(decodeLong(try take(n, for: op, at: offset)), at: offset)
            case .binfloat:
                // The one big-endian operand in the protocol.
                let raw = try readUInt(UInt64.self, for: op, at: offset)
                try push(.float(Double(bitPattern: raw.byteSwapped)), at: offset)
            case .newTrue:
                try push(.bool(true), at: offset)
            case .newFalse:
                try push(.bool(false), at: offset)
            case .none:
                try push(.none, at: offset)
            case .binunicode:
                let n = try readLength(UInt32.self, for: op, at: offset)
                try push(.string(try readText(length: n, for: op, at: offset)), at: offset)
            case .shortBinunicode:
                let n = try readLength(UInt8.self, for: op, at: offset)
                try push(.string(try readText(length: n, for: op, at: offset)), at: offset)
            case .binunicode8:
                let n = try readLength(UInt64.self, for: op, at: offset)
                try push(.string(try readText(length: n, for: op, at: offset)), at: offset)
            case .binstring, .shortBinstring:
                // Python 2 `str`: text if it decodes, otherwise just bytes.
                let n = opcode == .binstring
                    ? try readLength(UInt32.self, for: op, at: offset)
                    : try readLength(UInt8.self, for: op, at: offset)
                let raw = try take(n, for: op, at: offset)
                try push(decodeUTF8(raw).map(PickleValue.string) ?? .bytes(count: n), at: offset)
            case .binbytes:
                let n = try readLength(UInt32.self, for: op, at: offset)
                _ = try take(n, for: op, at: offset)
                try push(.bytes(count: n), at: offset)
            case .shortBinbytes:
                let n = try readLength(UInt8.self, for: op, at: offset)
                _ = try take(n, for: op, at: offset)
                try push(.bytes(count: n), at: offset)
            case .binbytes8:
                let n = try readLength(UInt64.self, for: op, at: offset)
                _ = try take(n, for: op, at: offset)
                try push(.bytes(count: n), at: offset)
            case .reduce:
                let args = try pop(at: offset)
                let callable = try pop(at: offset)
                try push(try call(callable, args, at: offset), at: offset)
            case .build:
                // Object state (`__setstate__`) never matters to the loader: keep the object.
                _ = try pop(at: offset)
                _ = try top(at: offset)
            case .binpersid:
                try push(persistentLoad(try pop(at: offset)), at: offset)
            case .newobj:
                _ = try pop(at: offset) // args
                try push(try instantiate(try pop(at: offset), at: offset), at: offset)
            case .newobjEx:
                _ = try pop(at: offset) // kwargs
                _ = try pop(at: offset) // args
                try push(try instantiate(try pop(at: offset), at: offset), at: offset)
            }
        }
    }
}

func hex(_ byte: UInt8) -> String {
    let s = String(byte, radix: 16, uppercase: true)
    return s.count == 1 ? "0" + s : s
}

/// " ('c')" for printable ASCII opcodes, "" otherwise.
private func printable(_ byte: UInt8) -> String {
    (0x21 ... 0x7E).contains(byte) ? " ('\(Character(Unicode.Scalar(byte)))')" : ""
}
