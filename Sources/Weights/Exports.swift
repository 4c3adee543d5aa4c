// The archive API is written in TensorCore's types (`TensorData`, `DType`, `ByteStorage`):
// importing Weights makes them available without a second import.
@_exported import TensorCore
