import AnimationService
import DBusKit

extension ServiceError {
    static let namePrefix = "org.dynamicrafter.Animator1.Error."

    /// The D-Bus error name, org.dynamicrafter.Animator1.Error.<Kind>.
    var dbusName: String { Self.namePrefix + kind.rawValue }

    var dbusError: DBusError { DBusError(name: dbusName, message: message) }
}

extension Error {
    /// Any error as the D-Bus error a caller gets: service errors by their documented names,
    /// D-Bus errors as they are, anything else as Internal.
    var dbusError: DBusError {
        switch self {
        case let error as ServiceError: error.dbusError
        case let error as DBusError: error
        default: ServiceError(.internal, String(describing: self)).dbusError
        }
    }
}
