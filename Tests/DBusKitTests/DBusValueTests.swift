import TestingSupport
import DBusKit
#if canImport(Glibc)
import Glibc
#endif
import Testing

/// Values, signatures, names and match rules, without a bus.
@Suite struct DBusValueTests {
    @Test func signaturesDescribeNestedValues() {
        #expect(DBusValue.vardict(["a": .int32(1)]).signature == "a{sv}")
        #expect(DBusValue.array("(sa{sv})", []).signature == "a(sa{sv})")
        #expect(DBusValue.structure([.unixFD(DBusUnixFD(taking: dup(0))), .vardict([:])]).signature == "(ha{sv})")
        #expect(DBusValue.dictionary("o", "as", []).signature == "a{oas}")
        #expect(DBusValue.signature(of: [.string("x"), .variant(.bool(true)), .uint64(1)]) == "svt")
        #expect(DBusSyntax.completeTypes(of: "sa{sv}(ii)aas") == ["s", "a{sv}", "(ii)", "aas"])
        #expect(DBusSyntax.completeTypes(of: "a{") == nil)
        #expect(DBusSyntax.completeTypes(of: "") == [])
    }

    @Test func validationRefusesWhatTheWireCannotCarry() {
        func refused(_ value: DBusValue) -> Bool {
            do { try value.validate(); return false } catch { return error.name == DBusError.Name.invalidArgs }
        }
        #expect(refused(.array("i", [.int32(1), .string("two")])))
        #expect(refused(.array("{sv}", [])))
        #expect(refused(.array("x(", [])))
        #expect(refused(.dictionary("v", "s", [])))
        #expect(refused(.dictionary("as", "s", [])))
        #expect(refused(.dictionary("s", "s", [(.string("k"), .int32(1))])))
        #expect(refused(.string("a\0b")))
        #expect(refused(.objectPath("relative/path")))
        #expect(refused(.objectPath("/trailing/")))
        #expect(refused(.signature("a")))
        #expect(refused(.structure([])))
        let closed = DBusUnixFD(taking: dup(0))
        closed.close()
        #expect(refused(.unixFD(closed)))
        var deep = DBusValue.byte(0)
        for _ in 0..<65 { deep = .variant(deep) }
        #expect(refused(deep))
        var deepArrays = DBusValue.array("y", [])
        for _ in 0..<40 { deepArrays = .array(deepArrays.signature, [deepArrays]) }
        #expect(refused(deepArrays))

        #expect(!refused(.vardict(["ok": .array("(ias)", [.structure([.int32(1), .array("s", [])])])])))
        #expect(!refused(.objectPath("/")))
        #expect(!refused(.signature("")))
    }

    @Test func vardictHelpersKeepOrderAndUnwrapVariants() {
        let ordered = DBusValue.vardict([("z", .int32(1)), ("a", .variant(.string("kept")))])
        #expect(ordered.vardictEntries?.map(\.0) == ["z", "a"])
        #expect(ordered.vardictValue?["a"] == .string("kept"))
        #expect(DBusValue.vardict(["b": .bool(true), "a": .bool(false)]).vardictEntries?.map(\.0) == ["a", "b"])
        #expect(DBusValue.array("s", []).vardictValue == nil)
        #expect(DBusValue.variant(.variant(.uint32(3))).unwrappingVariants == .uint32(3))
        #expect(DBusValue.objectPath("/x").stringValue == "/x" && DBusValue.string("x").objectPathValue == nil)
    }

    @Test func fileDescriptorWrapperOwnsItsDescriptor() {
        let original = dup(0)
        let wrapper = DBusUnixFD(taking: original)
        #expect(wrapper.rawValue == original)
        let taken = wrapper.take()
        #expect(taken == original && wrapper.rawValue == nil && wrapper.take() == nil)
        // Taken: the wrapper no longer closes it.
        #expect(fcntl(original, F_GETFD) >= 0)
        let second = DBusUnixFD(taking: original)
        second.close()
        #expect(fcntl(original, F_GETFD) == -1)
        let duplicate = try? DBusUnixFD(duplicating: 0)
        #expect(duplicate?.rawValue.map { $0 != 0 } == true)
        #expect(throws: DBusError.self) { try DBusUnixFD(duplicating: -1) }
    }

    @Test func matchRulesRenderAndEscape() {
        let rule = DBusMatchRule(sender: "org.x.Y", interface: "org.x.Y", member: "Changed", pathNamespace: "/org/x",
                                 arguments: [1: "it's", 0: "a"])
        #expect(rule.description == "type='signal',sender='org.x.Y',interface='org.x.Y',member='Changed',path_namespace='/org/x',arg0='a',arg1='it'\\''s'")
        #expect(DBusMatchRule(type: nil).description.isEmpty)
    }

    @Test func namesAreCheckedBeforeLibdbusSeesThem() {
        #expect(DBusSyntax.isValidErrorName("org.dynamicrafter.Animator1.Error.Busy"))
        #expect(!DBusSyntax.isValidErrorName("Busy"))
        #expect(DBusSyntax.isValidBusName(":1.42") && DBusSyntax.isValidBusName("org.dynamicrafter.Animator1"))
        #expect(!DBusSyntax.isValidBusName("org..x"))
        #expect(DBusSyntax.isValidObjectPath("/org/dynamicrafter/Animator1/Job/12"))
        #expect(!DBusSyntax.isValidObjectPath("/org/dynamicrafter/Job-1"))
        #expect(!DBusSyntax.isValidMemberName("1Animate") && DBusSyntax.isValidMemberName("TakeFrames"))
        #expect(!DBusSyntax.isValidInterfaceName("nodots") && DBusSyntax.isValidInterfaceName("org.dynamicrafter.Animator1.Job"))
    }
}
