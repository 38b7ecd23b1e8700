//! The cached value: a generated clip's frames and its description.

/// Interleaved channels per pixel (RGB).
pub const CHANNELS: usize = 3;

/// A generated clip: `frame_count` frames of height x width interleaved RGB f32 (values in
/// `[0, 1]`).
#[derive(Debug, Clone, PartialEq)]
pub struct CachedClip {
    /// All frames back to back, each `height * width * 3` floats, rows top to bottom.
    pub frames: Vec<f32>,
    /// Number of frames in `frames`.
    pub frame_count: usize,
    /// Frame width in pixels.
    pub width: usize,
    /// Frame height in pixels.
    pub height: usize,
    /// Frames per second the clip was generated for.
    pub fps: f64,
    /// One line describing how the clip was made (model, steps, timing), for the status line.
    pub summary: String,
}

impl CachedClip {
    /// Floats in one frame, or `None` if the dimensions overflow.
    #[must_use]
    pub fn frame_len(&self) -> Option<usize> {
        self.width.checked_mul(self.height)?.checked_mul(CHANNELS)
    }

    /// Frame `i` (`height * width * 3` floats), or `None` if out of range or the clip is short.
    #[must_use]
    pub fn frame(&self, i: usize) -> Option<&[f32]> {
        if i >= self.frame_count {
            return None;
        }
        let len = self.frame_len()?;
        let start = i.checked_mul(len)?;
        self.frames.get(start..start.checked_add(len)?)
    }

    /// Bytes this clip holds in memory (what the memory limit counts).
    #[must_use]
    pub fn bytes(&self) -> usize {
        self.frames
            .len()
            .saturating_mul(size_of::<f32>())
            .saturating_add(self.summary.len())
    }

    /// Whether `frames` holds exactly `frame_count` frames of the stated size.
    #[must_use]
    pub fn is_consistent(&self) -> bool {
        self.frame_len()
            .and_then(|len| len.checked_mul(self.frame_count))
            .is_some_and(|total| total == self.frames.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clip(frame_count: usize, width: usize, height: usize) -> CachedClip {
        let len = frame_count * width * height * CHANNELS;
        CachedClip {
            frames: (0..len).map(|i| i as f32).collect(),
            frame_count,
            width,
            height,
            fps: 24.0,
            summary: "test".into(),
        }
    }

    #[test]
    fn frames_are_sliced_in_order() {
        let c = clip(3, 2, 2);
        assert_eq!(c.frame_len(), Some(12));
        assert_eq!(c.frame(0).map(|f| f[0]), Some(0.0));
        assert_eq!(c.frame(2).map(|f| (f.len(), f[0])), Some((12, 24.0)));
        assert_eq!(c.frame(3), None);
        assert!(c.is_consistent());
    }

    #[test]
    fn short_or_absurd_clips_do_not_panic() {
        let mut c = clip(3, 2, 2);
        c.frames.truncate(30);
        assert!(c.frame(1).is_some());
        assert_eq!(c.frame(2), None);
        assert!(!c.is_consistent());
        c.width = usize::MAX;
        assert_eq!(c.frame(0), None);
        assert!(!c.is_consistent());
    }

    #[test]
    fn bytes_counts_floats_and_summary() {
        assert_eq!(clip(2, 4, 4).bytes(), 2 * 4 * 4 * 3 * 4 + 4);
    }
}
