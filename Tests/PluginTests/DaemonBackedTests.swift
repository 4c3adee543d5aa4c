import Testing

/// The tests that run real clips through a real daemon. One at a time: each runs the model,
/// and the stop-latency measurements should not compete with other clips for the CPU.
@Suite(.serialized) struct DaemonBackedTests {}
