/// Why a weight file could not be read or written.
///
/// Every error names the file and says what is wrong in words a person can act on; `kind`
/// lets code (and tests) tell the cases apart without parsing the message.
public struct WeightsError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable, Equatable, CaseIterable {
        /// The path does not exist.
        case fileNotFound
        /// The path is a directory (or another non-regular file).
        case notARegularFile
        /// The operating system refused to open, map, read or write the file.
        case io
        /// Neither a safetensors file nor a PyTorch zip checkpoint.
        case unknownFormat
        /// The file ends before a structure it declares.
        case truncated
        /// The safetensors header is malformed or inconsistent with the data section.
        case invalidHeader
        /// The zip structure (end record, central directory, local headers) is inconsistent.
        case invalidZip
        /// A zip entry the checkpoint needs is compressed or encrypted.
        case compressedEntry
        /// The pickle stream is malformed (stack underflow, bad memo reference, …).
        case invalidPickle
        /// The pickle uses an opcode outside the subset torch.save emits.
        case unsupportedOpcode
        /// Nesting, memo or stack limits were exceeded.
        case limitExceeded
        /// A persistent id names a storage class with no supported dtype.
        case unknownStorageType
        /// A tensor's dtype, shape, offset or strides do not fit its storage.
        case invalidTensor
        /// Text that must be UTF-8 is not.
        case notUTF8
        /// No tensor of that name in the file.
        case tensorNotFound
        /// The tensor cannot be written (for example a dtype the writer refuses).
        case unsupported
    }

    public let kind: Kind
    /// The file the error is about.
    public let path: String
    /// What is wrong, without the path.
    public let message: String

    public init(_ kind: Kind, path: String, _ message: String) {
        self.kind = kind
        self.path = path
        self.message = message
    }

    public var description: String { "\(path): \(message)" }
}
