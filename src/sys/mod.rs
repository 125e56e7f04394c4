//! The platform layer: the only place that names an operating system.

/// Whether a read that returns less than was asked for proves the socket is drained,
/// so that waiting for the next readiness event is safe. It holds where mio's readiness
/// is edge-triggered on the socket's queue (epoll, kqueue): new bytes always bring a new
/// event. mio's Windows backend emulates readiness, and there we read on to WouldBlock.
pub const SHORT_READ_DRAINS: bool = cfg!(unix);
