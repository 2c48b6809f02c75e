//! Size limits shared by more than one core room.
//!
//! A leaf of the crate: it imports nothing from it. The framing bounds a
//! frame by [`DEFAULT_MAX_MESSAGE`] and the parser bounds a text run by the
//! same number, so it lives here, below both, instead of in one of them.

/// Default maximum message size (8 MiB): a photo response is tens of KB of
/// base64, so this leaves two orders of magnitude of headroom while bounding
/// the memory one session can pin.
pub const DEFAULT_MAX_MESSAGE: usize = 8 * 1024 * 1024;
