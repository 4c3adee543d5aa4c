import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

extension DBusNodeInfo {
    /// Parses introspection XML. Documentation (any element outside the introspection
    /// vocabulary, such as `<doc:doc>`, with everything inside it) and comments are skipped;
    /// names and types are checked against the specification.
    public init(xml: String) throws(DBusError) {
        let builder = IntrospectionParser()
        let parser = XMLParser(data: Data(xml.utf8))
        parser.delegate = builder
        parser.shouldResolveExternalEntities = false
        let ok = parser.parse()
        if let failure = builder.failure { throw failure }
        guard ok, let root = builder.root else {
            let reason = parser.parserError.map { "\($0.localizedDescription)" } ?? "no <node> element"
            throw .invalidArgs("Malformed introspection XML at line \(parser.lineNumber): \(reason)")
        }
        self = root
    }

    /// Reads and parses an introspection XML file.
    public init(contentsOfFile path: String) throws(DBusError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw .failed("Cannot read introspection XML '\(path)': \(error.localizedDescription)")
        }
        try self.init(xml: text)
    }

    /// The XML a service returns from `Introspect`: standard DOCTYPE, no documentation.
    public func xml() -> String {
        var out = """
            <!DOCTYPE node PUBLIC "-//freedesktop//DTD D-BUS Object Introspection 1.0//EN"
             "http://www.freedesktop.org/standards/dbus/1.0/introspect.dtd">

            """
        write(to: &out, indent: "")
        return out
    }

    /// Introspection XML with all documentation and comments removed (parsed, checked and
    /// written back): what a daemon serves for the documented XML file it implements.
    public static func strippingDocumentation(fromXML xml: String) throws(DBusError) -> String {
        try DBusNodeInfo(xml: xml).xml()
    }

    private func write(to out: inout String, indent: String) {
        let open = name.map { "<node name=\"\(escape($0))\"" } ?? "<node"
        if interfaces.isEmpty && children.isEmpty {
            out += indent + open + "/>\n"
            return
        }
        out += indent + open + ">\n"
        let inner = indent + "  "
        for interface in interfaces {
            out += inner + "<interface name=\"\(escape(interface.name))\">\n"
            let member = inner + "  "
            for method in interface.methods {
                writeMember("method", method.name, method.arguments, method.annotations, directions: true, to: &out, indent: member)
            }
            for signal in interface.signals {
                writeMember("signal", signal.name, signal.arguments, signal.annotations, directions: false, to: &out, indent: member)
            }
            for property in interface.properties {
                let head = "<property name=\"\(escape(property.name))\" type=\"\(escape(property.type))\" access=\"\(property.access.rawValue)\""
                writeElement(head, "property", property.annotations, to: &out, indent: member)
            }
            writeAnnotations(interface.annotations, to: &out, indent: member)
            out += inner + "</interface>\n"
        }
        for child in children { child.write(to: &out, indent: inner) }
        out += indent + "</node>\n"
    }

    private func writeMember(
        _ element: String, _ name: String, _ arguments: [DBusArgumentInfo], _ annotations: [DBusAnnotationInfo],
        directions: Bool, to out: inout String, indent: String
    ) {
        let head = "<\(element) name=\"\(escape(name))\""
        if arguments.isEmpty && annotations.isEmpty {
            out += indent + head + "/>\n"
            return
        }
        out += indent + head + ">\n"
        for argument in arguments {
            var tag = "<arg"
            if let name = argument.name { tag += " name=\"\(escape(name))\"" }
            tag += " type=\"\(escape(argument.type))\""
            if directions { tag += " direction=\"\(argument.direction.rawValue)\"" }
            writeElement(tag, "arg", argument.annotations, to: &out, indent: indent + "  ")
        }
        writeAnnotations(annotations, to: &out, indent: indent + "  ")
        out += indent + "</\(element)>\n"
    }

    private func writeElement(_ head: String, _ element: String, _ annotations: [DBusAnnotationInfo], to out: inout String, indent: String) {
        if annotations.isEmpty {
            out += indent + head + "/>\n"
        } else {
            out += indent + head + ">\n"
            writeAnnotations(annotations, to: &out, indent: indent + "  ")
            out += indent + "</\(element)>\n"
        }
    }

    private func writeAnnotations(_ annotations: [DBusAnnotationInfo], to out: inout String, indent: String) {
        for annotation in annotations {
            out += indent + "<annotation name=\"\(escape(annotation.name))\" value=\"\(escape(annotation.value))\"/>\n"
        }
    }

    private func escape(_ text: String) -> String {
        var result = ""
        for character in text {
            switch character {
            case "&": result += "&amp;"
            case "<": result += "&lt;"
            case ">": result += "&gt;"
            case "\"": result += "&quot;"
            case "'": result += "&apos;"
            default: result.append(character)
            }
        }
        return result
    }
}

/// SAX-style builder for the introspection vocabulary. Elements it does not know are skipped
/// with their whole subtree (that is where documentation lives).
private final class IntrospectionParser: NSObject, XMLParserDelegate {
    private enum Frame {
        case node(DBusNodeInfo)
        case interface(DBusInterfaceInfo)
        case method(DBusMethodInfo)
        case signal(DBusSignalInfo)
        case property(DBusPropertyInfo)
        case argument(DBusArgumentInfo)
        case annotation
    }

    private var stack: [Frame] = []
    private var skippedDepth = 0
    private(set) var root: DBusNodeInfo?
    private(set) var failure: DBusError?

    private func fail(_ parser: XMLParser, _ message: String) {
        if failure == nil {
            failure = .invalidArgs("Invalid introspection XML at line \(parser.lineNumber): \(message)")
        }
        parser.abortParsing()
    }

    func parser(
        _ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?,
        qualifiedName qName: String?, attributes: [String: String] = [:]
    ) {
        if skippedDepth > 0 {
            skippedDepth += 1
            return
        }
        let parent = stack.last
        func require(_ key: String) -> String? {
            guard let value = attributes[key] else {
                fail(parser, "<\(elementName)> needs a '\(key)' attribute")
                return nil
            }
            return value
        }
        switch (elementName, parent) {
        case ("node", nil), ("node", .node?):
            // A child's name is a relative path; an absolute one (allowed on the root) must be valid.
            if let name = attributes["name"] {
                let valid = name.hasPrefix("/") ? DBusSyntax.isValidObjectPath(name)
                    : !name.isEmpty && DBusSyntax.isValidObjectPath("/" + name)
                guard valid else { return fail(parser, "invalid node name '\(name)'") }
            }
            stack.append(.node(DBusNodeInfo(name: attributes["name"])))
        case ("interface", .node?):
            guard let name = require("name") else { return }
            guard DBusSyntax.isValidInterfaceName(name) else { return fail(parser, "invalid interface name '\(name)'") }
            stack.append(.interface(DBusInterfaceInfo(name: name)))
        case ("method", .interface?), ("signal", .interface?):
            guard let name = require("name") else { return }
            guard DBusSyntax.isValidMemberName(name) else { return fail(parser, "invalid member name '\(name)'") }
            stack.append(elementName == "method" ? .method(DBusMethodInfo(name: name)) : .signal(DBusSignalInfo(name: name)))
        case ("property", .interface?):
            guard let name = require("name"), let type = require("type"), let accessText = require("access") else { return }
            guard DBusSyntax.isValidMemberName(name) else { return fail(parser, "invalid property name '\(name)'") }
            guard DBusSyntax.isValidSingleType(type) else { return fail(parser, "property \(name) has invalid type '\(type)'") }
            guard let access = DBusPropertyInfo.Access(rawValue: accessText) else {
                return fail(parser, "property \(name) has invalid access '\(accessText)'")
            }
            stack.append(.property(DBusPropertyInfo(name: name, type: type, access: access)))
        case ("arg", .method?), ("arg", .signal?):
            guard let type = require("type") else { return }
            guard DBusSyntax.isValidSingleType(type) else { return fail(parser, "argument has invalid type '\(type)'") }
            let isMethod: Bool
            if case .method? = parent { isMethod = true } else { isMethod = false }
            let defaultDirection: DBusArgumentInfo.Direction = isMethod ? .in : .out
            guard let direction = attributes["direction"].map(DBusArgumentInfo.Direction.init(rawValue:)) ?? defaultDirection else {
                return fail(parser, "argument has invalid direction '\(attributes["direction"] ?? "")'")
            }
            guard isMethod || direction == .out else { return fail(parser, "signal arguments cannot have direction 'in'") }
            stack.append(.argument(DBusArgumentInfo(name: attributes["name"], type: type, direction: direction)))
        case ("annotation", .some(let frame)):
            guard let name = require("name"), let value = require("value") else { return }
            let annotation = DBusAnnotationInfo(name: name, value: value)
            guard let index = stack.indices.last else { return }
            switch frame {
            case .interface(var info): info.annotations.append(annotation); stack[index] = .interface(info)
            case .method(var info): info.annotations.append(annotation); stack[index] = .method(info)
            case .signal(var info): info.annotations.append(annotation); stack[index] = .signal(info)
            case .property(var info): info.annotations.append(annotation); stack[index] = .property(info)
            case .argument(var info): info.annotations.append(annotation); stack[index] = .argument(info)
            case .node, .annotation: return fail(parser, "<annotation> is not allowed here")
            }
            stack.append(.annotation)
        case ("node", _), ("interface", _), ("method", _), ("signal", _), ("property", _), ("arg", _), ("annotation", _):
            fail(parser, "<\(elementName)> is not allowed here")
        default:
            // Documentation or extensions: skip the element and everything inside it.
            skippedDepth = 1
        }
    }

    func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName qName: String?) {
        if skippedDepth > 0 {
            skippedDepth -= 1
            return
        }
        guard let frame = stack.popLast() else { return }
        guard let index = stack.indices.last else {
            if case .node(let node) = frame { root = node }
            return
        }
        switch (stack[index], frame) {
        case (.node(var node), .node(let child)): node.children.append(child); stack[index] = .node(node)
        case (.node(var node), .interface(let interface)): node.interfaces.append(interface); stack[index] = .node(node)
        case (.interface(var interface), .method(let method)): interface.methods.append(method); stack[index] = .interface(interface)
        case (.interface(var interface), .signal(let signal)): interface.signals.append(signal); stack[index] = .interface(interface)
        case (.interface(var interface), .property(let property)): interface.properties.append(property); stack[index] = .interface(interface)
        case (.method(var method), .argument(let argument)): method.arguments.append(argument); stack[index] = .method(method)
        case (.signal(var signal), .argument(let argument)): signal.arguments.append(argument); stack[index] = .signal(signal)
        default: break // annotations were attached when they opened
        }
    }
}
