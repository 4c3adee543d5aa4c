internal import CDBus

/// Method-call routing to exported objects and the standard interfaces DBusKit serves for
/// them (Introspectable, Properties; libdbus answers Peer itself). Runs on the queue.
extension ConnectionCore {
    enum Target {
        case object(DBusObject, children: [String])
        /// No object here, but objects below (or a subtree root): only Introspect works.
        case intermediate(children: [String])
        case none
    }

    func resolve(_ path: String) -> Target {
        var object = objects[path]
        if object == nil {
            for (root, subtree) in subtrees.sorted(by: { $0.key.count > $1.key.count }) where Self.path(path, isAtOrBelow: root) {
                if let found = subtree.resolve(path) {
                    object = found
                    break
                }
            }
        }
        let children = childNames(of: path)
        if let object { return .object(object, children: children) }
        if !children.isEmpty || subtrees[path] != nil { return .intermediate(children: children) }
        return .none
    }

    static func path(_ path: String, isAtOrBelow root: String) -> Bool {
        root == "/" || path == root || path.hasPrefix(root + "/")
    }

    private func childNames(of path: String) -> [String] {
        let prefix = path == "/" ? "/" : path + "/"
        var names = Set<String>()
        for registered in Array(objects.keys) + Array(subtrees.keys) where registered != path && registered.hasPrefix(prefix) {
            if let first = registered.dropFirst(prefix.count).split(separator: "/").first { names.insert(String(first)) }
        }
        for (root, subtree) in subtrees where Self.path(path, isAtOrBelow: root) {
            // Whatever the resolver lists must be a valid path element to appear in XML.
            names.formUnion(subtree.children(path).filter { DBusSyntax.isValidObjectPath(prefix + $0) && !$0.contains("/") })
        }
        return names.sorted()
    }

    // MARK: - Routing

    /// Handles a method call if it is addressed to this side's object tree; every path gets
    /// an answer (UnknownObject where nothing lives).
    func route(_ message: Message) -> Bool {
        guard let path = message.path, let member = message.member else { return false }
        let interfaceName = message.interface
        let target = resolve(path)

        if member == "Introspect", interfaceName == nil || interfaceName == DBusInterfaceInfo.introspectableName {
            switch target {
            case .none: break
            case .object(let object, let children):
                replyIntrospection(message, interfaces: object.interfaces.map(\.info) + DBusInterfaceInfo.standard, children: children)
                return true
            case .intermediate(let children):
                let standard = DBusInterfaceInfo.standard.filter { $0.name != DBusInterfaceInfo.propertiesName }
                replyIntrospection(message, interfaces: standard, children: children)
                return true
            }
        }

        let object: DBusObject
        switch target {
        case .none, .intermediate:
            replyError(message, DBusError(name: DBusError.Name.unknownObject, message: "No object at path '\(path)'"))
            return true
        case .object(let found, _):
            object = found
        }

        if interfaceName == DBusInterfaceInfo.propertiesName {
            handleProperties(message, member: member, path: path, object: object)
            return true
        }

        let implementation: DBusInterfaceImplementation
        if let interfaceName {
            guard let found = object.interface(named: interfaceName) else {
                let error = DBusInterfaceInfo.standardNames.contains(interfaceName)
                    ? DBusError(name: DBusError.Name.unknownMethod, message: "No method \(member) in interface \(interfaceName) at '\(path)'")
                    : DBusError(name: DBusError.Name.unknownInterface, message: "The object at '\(path)' has no interface \(interfaceName)")
                replyError(message, error)
                return true
            }
            implementation = found
        } else {
            // No interface field: the first interface declaring the member (the spec allows it).
            guard let found = object.interfaces.first(where: { $0.info.method(named: member) != nil }) else {
                replyError(message, DBusError(name: DBusError.Name.unknownMethod, message: "No method \(member) at '\(path)'"))
                return true
            }
            implementation = found
        }
        let qualified = "\(implementation.info.name).\(member)"
        guard let method = implementation.info.method(named: member), let body = implementation.methods[member] else {
            replyError(message, DBusError(name: DBusError.Name.unknownMethod, message: "No method \(qualified) at '\(path)'"))
            return true
        }
        let signature = message.signature
        guard signature == method.inputSignature else {
            replyError(message, .invalidArgs(
                "\(qualified) takes arguments of signature '\(method.inputSignature)', not '\(signature)'"))
            return true
        }
        let reply = DBusDeferredReply(core: self, message: message, outputSignature: method.outputSignature, describedMember: qualified)
        let arguments: [DBusValue]
        do {
            arguments = try DBusValue.readAll(from: message.raw)
        } catch {
            reply.fail(error)
            return true
        }
        let call = DBusMethodCall(
            path: path, interface: implementation.info.name, member: member, sender: message.sender,
            signature: signature, arguments: arguments, expectsReply: message.expectsReply)
        do {
            try body.body(call, reply)
        } catch {
            reply.fail(error)
        }
        return true
    }

    func replyError(_ message: Message, _ error: DBusError) {
        guard message.expectsReply, let reply = message.errorReply(error) else { return }
        try? send(reply)
    }

    private func replyValues(_ message: Message, _ values: [DBusValue]) {
        guard message.expectsReply else { return }
        do {
            try send(message.methodReturn(values))
        } catch {
            replyError(message, error)
        }
    }

    private func replyIntrospection(_ message: Message, interfaces: [DBusInterfaceInfo], children: [String]) {
        guard message.signature.isEmpty else {
            return replyError(message, .invalidArgs("Introspect takes no arguments, not '\(message.signature)'"))
        }
        let node = DBusNodeInfo(interfaces: interfaces, children: children.map { DBusNodeInfo(name: $0) })
        replyValues(message, [.string(node.xml())])
    }

    // MARK: - org.freedesktop.DBus.Properties

    private func handleProperties(_ message: Message, member: String, path: String, object: DBusObject) {
        let expected: String
        switch member {
        case "Get": expected = "ss"
        case "GetAll": expected = "s"
        case "Set": expected = "ssv"
        default:
            return replyError(message, DBusError(
                name: DBusError.Name.unknownMethod, message: "No method \(member) in interface \(DBusInterfaceInfo.propertiesName)"))
        }
        guard message.signature == expected else {
            return replyError(message, .invalidArgs(
                "\(DBusInterfaceInfo.propertiesName).\(member) takes arguments of signature '\(expected)', not '\(message.signature)'"))
        }
        do {
            let arguments = try DBusValue.readAll(from: message.raw)
            let interfaceName = arguments[0].stringValue ?? ""
            switch member {
            case "Get":
                let (_, info, implementation) = try property(object, path: path, interface: interfaceName, name: arguments[1].stringValue ?? "")
                replyValues(message, [.variant(try read(info, implementation))])
            case "GetAll":
                if !interfaceName.isEmpty, object.interface(named: interfaceName) == nil,
                   !DBusInterfaceInfo.standardNames.contains(interfaceName) {
                    throw DBusError(name: DBusError.Name.unknownInterface, message: "The object at '\(path)' has no interface \(interfaceName)")
                }
                var entries: [(String, DBusValue)] = []
                for interface in object.interfaces where interfaceName.isEmpty || interface.info.name == interfaceName {
                    for info in interface.info.properties where info.access.isReadable {
                        guard let implementation = interface.properties[info.name] else { continue }
                        entries.append((info.name, try read(info, implementation)))
                    }
                }
                replyValues(message, [.vardict(entries)])
            default:
                let (interface, info, implementation) = try property(object, path: path, interface: interfaceName, name: arguments[1].stringValue ?? "")
                guard info.access.isWritable, let setter = implementation.set else {
                    throw DBusError(name: DBusError.Name.propertyReadOnly, message: "Property \(interface.info.name).\(info.name) is read-only")
                }
                let value = arguments[2].variantValue ?? arguments[2]
                guard value.signature == info.type else {
                    throw DBusError.invalidArgs(
                        "Property \(interface.info.name).\(info.name) has type '\(info.type)', not '\(value.signature)'")
                }
                try setter(value)
                replyValues(message, [])
                try? emitChanged(path: path, interface: interface, names: [info.name])
            }
        } catch {
            replyError(message, DBusDeferredReply.dbusError(from: error))
        }
    }

    private func property(
        _ object: DBusObject, path: String, interface name: String, name propertyName: String
    ) throws(DBusError) -> (DBusInterfaceImplementation, DBusPropertyInfo, DBusPropertyImplementation) {
        let candidates: [DBusInterfaceImplementation]
        if name.isEmpty {
            candidates = object.interfaces
        } else if let interface = object.interface(named: name) {
            candidates = [interface]
        } else if DBusInterfaceInfo.standardNames.contains(name) {
            candidates = []
        } else {
            throw DBusError(name: DBusError.Name.unknownInterface, message: "The object at '\(path)' has no interface \(name)")
        }
        for interface in candidates {
            if let info = interface.info.property(named: propertyName), let implementation = interface.properties[propertyName] {
                return (interface, info, implementation)
            }
        }
        let qualified = name.isEmpty ? propertyName : "\(name).\(propertyName)"
        throw DBusError(name: DBusError.Name.unknownProperty, message: "No property \(qualified) at '\(path)'")
    }

    /// Calls a getter and checks its result against the declared type.
    private func read(_ info: DBusPropertyInfo, _ implementation: DBusPropertyImplementation) throws -> DBusValue {
        guard info.access.isReadable else {
            throw DBusError(name: DBusError.Name.accessDenied, message: "Property \(info.name) is write-only")
        }
        let value = try implementation.get()
        guard value.signature == info.type else {
            throw DBusError.failed("Property \(info.name) produced a value of type '\(value.signature)' but declares '\(info.type)'")
        }
        try value.validate()
        return value
    }

    /// Emits PropertiesChanged for `names` of one exported interface, each as its annotation
    /// asks: with the current value (`true`), by name only (`invalidates`), or not at all.
    func emitChanged(path: String, interface: DBusInterfaceImplementation, names: [String]) throws {
        var changed: [(String, DBusValue)] = []
        var invalidated: [String] = []
        let interfaceMode = interface.info.annotations.first { $0.name == "org.freedesktop.DBus.Property.EmitsChangedSignal" }?.value
        for name in names {
            guard let info = interface.info.property(named: name), let implementation = interface.properties[name] else {
                throw DBusError(name: DBusError.Name.unknownProperty, message: "No property \(interface.info.name).\(name)")
            }
            let mode = info.annotations.first { $0.name == "org.freedesktop.DBus.Property.EmitsChangedSignal" }?.value
                ?? interfaceMode ?? "true"
            switch mode {
            case "true": changed.append((name, try read(info, implementation)))
            case "invalidates": invalidated.append(name)
            default: continue
            }
        }
        guard !changed.isEmpty || !invalidated.isEmpty else { return }
        let signal = try Message.signal(
            path: path, interface: DBusInterfaceInfo.propertiesName, member: "PropertiesChanged",
            arguments: [.string(interface.info.name), .vardict(changed), .array("s", invalidated.map(DBusValue.string))])
        try send(signal)
    }
}
