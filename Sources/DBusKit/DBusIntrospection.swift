/// The D-Bus introspection data model (`<node>`, `<interface>`, `<method>`, `<signal>`,
/// `<property>`, `<arg>`, `<annotation>`), without documentation: two descriptions are
/// equal when they declare the same interfaces, members, arguments (names, types,
/// directions), properties (types, access) and annotations, in the same order. Parse one
/// with `DBusNodeInfo(xml:)`, write one with `xml()`.
public struct DBusNodeInfo: Sendable, Hashable {
    /// The `name` attribute: absent on the root node, a relative path on children.
    public var name: String?
    public var interfaces: [DBusInterfaceInfo]
    public var children: [DBusNodeInfo]

    public init(name: String? = nil, interfaces: [DBusInterfaceInfo] = [], children: [DBusNodeInfo] = []) {
        self.name = name
        self.interfaces = interfaces
        self.children = children
    }

    public func interface(named name: String) -> DBusInterfaceInfo? {
        interfaces.first { $0.name == name }
    }

    /// The same node without the interfaces every object carries (Introspectable,
    /// Properties, Peer) and without child nodes: what a service's own XML file describes.
    public var withoutStandardInterfaces: DBusNodeInfo {
        DBusNodeInfo(name: name, interfaces: interfaces.filter { !DBusInterfaceInfo.standardNames.contains($0.name) })
    }
}

public struct DBusInterfaceInfo: Sendable, Hashable {
    public var name: String
    public var methods: [DBusMethodInfo]
    public var signals: [DBusSignalInfo]
    public var properties: [DBusPropertyInfo]
    public var annotations: [DBusAnnotationInfo]

    public init(
        name: String, methods: [DBusMethodInfo] = [], signals: [DBusSignalInfo] = [],
        properties: [DBusPropertyInfo] = [], annotations: [DBusAnnotationInfo] = []
    ) {
        self.name = name
        self.methods = methods
        self.signals = signals
        self.properties = properties
        self.annotations = annotations
    }

    public func method(named name: String) -> DBusMethodInfo? { methods.first { $0.name == name } }
    public func signal(named name: String) -> DBusSignalInfo? { signals.first { $0.name == name } }
    public func property(named name: String) -> DBusPropertyInfo? { properties.first { $0.name == name } }

    static let introspectableName = "org.freedesktop.DBus.Introspectable"
    static let propertiesName = "org.freedesktop.DBus.Properties"
    static let peerName = "org.freedesktop.DBus.Peer"
    static let standardNames: Set<String> = [introspectableName, propertiesName, peerName]

    /// The standard interfaces DBusKit serves on every exported object.
    static let standard: [DBusInterfaceInfo] = [
        DBusInterfaceInfo(name: introspectableName, methods: [
            DBusMethodInfo(name: "Introspect", arguments: [.init(name: "xml_data", type: "s", direction: .out)]),
        ]),
        DBusInterfaceInfo(name: propertiesName, methods: [
            DBusMethodInfo(name: "Get", arguments: [
                .init(name: "interface_name", type: "s", direction: .in),
                .init(name: "property_name", type: "s", direction: .in),
                .init(name: "value", type: "v", direction: .out),
            ]),
            DBusMethodInfo(name: "GetAll", arguments: [
                .init(name: "interface_name", type: "s", direction: .in),
                .init(name: "properties", type: "a{sv}", direction: .out),
            ]),
            DBusMethodInfo(name: "Set", arguments: [
                .init(name: "interface_name", type: "s", direction: .in),
                .init(name: "property_name", type: "s", direction: .in),
                .init(name: "value", type: "v", direction: .in),
            ]),
        ], signals: [
            DBusSignalInfo(name: "PropertiesChanged", arguments: [
                .init(name: "interface_name", type: "s", direction: .out),
                .init(name: "changed_properties", type: "a{sv}", direction: .out),
                .init(name: "invalidated_properties", type: "as", direction: .out),
            ]),
        ]),
        DBusInterfaceInfo(name: peerName, methods: [
            DBusMethodInfo(name: "Ping"),
            DBusMethodInfo(name: "GetMachineId", arguments: [.init(name: "machine_uuid", type: "s", direction: .out)]),
        ]),
    ]
}

public struct DBusMethodInfo: Sendable, Hashable {
    public var name: String
    public var arguments: [DBusArgumentInfo]
    public var annotations: [DBusAnnotationInfo]

    public init(name: String, arguments: [DBusArgumentInfo] = [], annotations: [DBusAnnotationInfo] = []) {
        self.name = name
        self.arguments = arguments
        self.annotations = annotations
    }

    /// The signature a call must carry: the `in` arguments' types.
    public var inputSignature: String { arguments.filter { $0.direction == .in }.map(\.type).joined() }
    /// The signature of the reply: the `out` arguments' types.
    public var outputSignature: String { arguments.filter { $0.direction == .out }.map(\.type).joined() }
}

public struct DBusSignalInfo: Sendable, Hashable {
    public var name: String
    /// Signal arguments; their direction is always `.out`.
    public var arguments: [DBusArgumentInfo]
    public var annotations: [DBusAnnotationInfo]

    public init(name: String, arguments: [DBusArgumentInfo] = [], annotations: [DBusAnnotationInfo] = []) {
        self.name = name
        self.arguments = arguments.map { var a = $0; a.direction = .out; return a }
        self.annotations = annotations
    }

    public var signature: String { arguments.map(\.type).joined() }
}

public struct DBusArgumentInfo: Sendable, Hashable {
    public enum Direction: String, Sendable, Hashable { case `in`, out }

    public var name: String?
    public var type: String
    public var direction: Direction
    public var annotations: [DBusAnnotationInfo]

    public init(name: String?, type: String, direction: Direction, annotations: [DBusAnnotationInfo] = []) {
        self.name = name
        self.type = type
        self.direction = direction
        self.annotations = annotations
    }
}

public struct DBusPropertyInfo: Sendable, Hashable {
    public enum Access: String, Sendable, Hashable {
        case read, write, readwrite

        public var isReadable: Bool { self != .write }
        public var isWritable: Bool { self != .read }
    }

    public var name: String
    public var type: String
    public var access: Access
    public var annotations: [DBusAnnotationInfo]

    public init(name: String, type: String, access: Access, annotations: [DBusAnnotationInfo] = []) {
        self.name = name
        self.type = type
        self.access = access
        self.annotations = annotations
    }

    /// The `org.freedesktop.DBus.Property.EmitsChangedSignal` annotation (`true` when absent,
    /// as the specification says).
    public var emitsChangedSignal: String {
        annotations.first { $0.name == "org.freedesktop.DBus.Property.EmitsChangedSignal" }?.value ?? "true"
    }
}

public struct DBusAnnotationInfo: Sendable, Hashable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}
