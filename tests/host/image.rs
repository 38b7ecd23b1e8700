//! Host-owned pixel buffers, the images handed out by `clipGetImage`, and image memory.
//!
//! # Memory layout
//! A buffer covers `bounds` (pixel coordinates, x1 <= x < x2, y1 <= y < y2) with RGBA pixels of
//! one depth. Rows are `stride` bytes apart in memory: the packed row plus an optional padding
//! (so a plug-in that assumes packed rows is caught).
//!
//! With *positive* row bytes, memory holds the bottom row (y1) first and `kOfxImagePropData`
//! is the start of the allocation. With *negative* row bytes, memory holds the top row
//! (y2 - 1) first, `kOfxImagePropRowBytes` is `-stride`, and `kOfxImagePropData` points at the
//! bottom row, which is the *last* row in memory: `base + (height - 1) * stride`. In both cases
//! pixel (x, y) is at `data + (y - y1) * row_bytes + (x - x1) * bytes_per_pixel`, as the
//! specification requires.
//!
//! Fresh buffers are filled with the byte 0xCD, so pixels a plug-in never wrote are visible
//! (as the float -4.3e8, or 205 in 8 bits).

use std::alloc::{Layout, alloc, dealloc};
use std::ffi::CStr;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicI32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use ofx_sys::*;

use super::effect::Runtime;
use super::ffi::lock;
use super::props::PropertySet;

/// The fill byte of fresh buffers.
pub const POISON_BYTE: u8 = 0xCD;

/// A pixel depth this host can allocate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BitDepth {
    Byte,
    Short,
    Float,
}

impl BitDepth {
    /// The `kOfxBitDepth*` string.
    pub fn as_cstr(self) -> &'static CStr {
        match self {
            BitDepth::Byte => kOfxBitDepthByte,
            BitDepth::Short => kOfxBitDepthShort,
            BitDepth::Float => kOfxBitDepthFloat,
        }
    }

    /// Parses a `kOfxBitDepth*` string.
    pub fn from_name(name: &str) -> Option<Self> {
        [BitDepth::Byte, BitDepth::Short, BitDepth::Float]
            .into_iter()
            .find(|d| d.as_cstr().to_str() == Ok(name))
    }

    /// Bytes of one channel.
    pub fn channel_bytes(self) -> usize {
        match self {
            BitDepth::Byte => 1,
            BitDepth::Short => 2,
            BitDepth::Float => 4,
        }
    }

    /// The largest step between two adjacent representable values in [0, 1].
    pub fn quantum(self) -> f32 {
        match self {
            BitDepth::Byte => 1.0 / 255.0,
            BitDepth::Short => 1.0 / 65535.0,
            BitDepth::Float => 0.0,
        }
    }
}

/// Channels per pixel: this host only hands out RGBA.
pub const CHANNELS: usize = 4;

/// Allocation alignment of pixel buffers and image memory.
const ALIGN: usize = 64;

/// An RGBA pixel buffer owned by the host. See the module comment for the layout.
#[derive(Debug)]
pub struct ImageBuffer {
    /// Pixel rectangle covered.
    pub bounds: OfxRectI,
    /// Channel depth.
    pub depth: BitDepth,
    /// Distance between rows in memory (positive).
    pub stride: usize,
    /// Whether the image is presented bottom row last in memory, with negative row bytes.
    pub negative_rows: bool,
    base: *mut u8,
    layout: Layout,
    /// How many times `clipGetImage` handed this buffer out.
    fetches: AtomicUsize,
}

// SAFETY: the buffer is plain memory owned by this struct. The plug-in writes it during a
// render and the host reads it only after the render action returned, so the two never race
// through this type; concurrent renders use distinct buffers.
unsafe impl Send for ImageBuffer {}
// SAFETY: as above: shared references only read, after the writer is done.
unsafe impl Sync for ImageBuffer {}

impl ImageBuffer {
    /// Allocates a poisoned buffer.
    pub fn new(bounds: OfxRectI, depth: BitDepth, negative_rows: bool, row_padding: usize) -> Self {
        let width = usize::try_from(bounds.x2 - bounds.x1).unwrap_or(0);
        let height = usize::try_from(bounds.y2 - bounds.y1).unwrap_or(0);
        let stride = width * CHANNELS * depth.channel_bytes() + row_padding;
        let size = (stride * height).max(1);
        let layout = Layout::from_size_align(size, ALIGN).expect("image too large");
        // SAFETY: `layout` has a non-zero size.
        let base = unsafe { alloc(layout) };
        assert!(!base.is_null(), "out of memory allocating an image");
        // SAFETY: `base` is valid for `size` bytes.
        unsafe { base.write_bytes(POISON_BYTE, size) };
        Self {
            bounds,
            depth,
            stride,
            negative_rows,
            base,
            layout,
            fetches: AtomicUsize::new(0),
        }
    }

    /// Counts one `clipGetImage` of this buffer.
    pub fn note_fetch(&self) {
        self.fetches.fetch_add(1, Ordering::SeqCst);
    }

    /// How many times `clipGetImage` handed this buffer out.
    pub fn fetch_count(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        usize::try_from(self.bounds.x2 - self.bounds.x1).unwrap_or(0)
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        usize::try_from(self.bounds.y2 - self.bounds.y1).unwrap_or(0)
    }

    /// `kOfxImagePropRowBytes`.
    pub fn row_bytes(&self) -> i32 {
        let stride = i32::try_from(self.stride).expect("row too long");
        if self.negative_rows { -stride } else { stride }
    }

    /// `kOfxImagePropData`: the first byte of row y1.
    pub fn data_ptr(&self) -> *mut u8 {
        if self.negative_rows && self.height() > 0 {
            // SAFETY: the last row starts inside the allocation.
            unsafe { self.base.add((self.height() - 1) * self.stride) }
        } else {
            self.base
        }
    }

    /// Byte offset of pixel (x, y) from the allocation start, if inside the bounds.
    fn offset(&self, x: i32, y: i32) -> Option<usize> {
        let b = self.bounds;
        if x < b.x1 || x >= b.x2 || y < b.y1 || y >= b.y2 {
            return None;
        }
        let row = usize::try_from(y - b.y1).ok()?;
        let memory_row = if self.negative_rows {
            self.height() - 1 - row
        } else {
            row
        };
        let column = usize::try_from(x - b.x1).ok()?;
        Some(memory_row * self.stride + column * CHANNELS * self.depth.channel_bytes())
    }

    /// Pixel (x, y) as RGBA in [0, 1] for integer depths (floats as stored).
    pub fn pixel(&self, x: i32, y: i32) -> Option<[f32; 4]> {
        let offset = self.offset(x, y)?;
        let mut out = [0.0f32; 4];
        for (c, value) in out.iter_mut().enumerate() {
            // SAFETY: `offset` is inside the allocation and a whole pixel fits after it;
            // unaligned reads are used because padding may misalign rows.
            *value = unsafe {
                let p = self.base.add(offset + c * self.depth.channel_bytes());
                match self.depth {
                    BitDepth::Byte => f32::from(p.read()) / 255.0,
                    BitDepth::Short => f32::from(p.cast::<u16>().read_unaligned()) / 65535.0,
                    BitDepth::Float => p.cast::<f32>().read_unaligned(),
                }
            };
        }
        Some(out)
    }

    /// Writes pixel (x, y) from RGBA in [0, 1] (integer depths clamp and round; floats are
    /// stored as given). False if (x, y) is outside the bounds.
    pub fn set_pixel(&mut self, x: i32, y: i32, rgba: [f32; 4]) -> bool {
        let Some(offset) = self.offset(x, y) else {
            return false;
        };
        for (c, value) in rgba.into_iter().enumerate() {
            let unit = value.clamp(0.0, 1.0);
            // SAFETY: `offset` is inside the allocation and a whole pixel fits after it;
            // unaligned writes because padding may misalign rows. `&mut self` excludes readers.
            unsafe {
                let p = self.base.add(offset + c * self.depth.channel_bytes());
                match self.depth {
                    BitDepth::Byte => p.write((unit * 255.0).round() as u8),
                    BitDepth::Short => p
                        .cast::<u16>()
                        .write_unaligned((unit * 65535.0).round() as u16),
                    BitDepth::Float => p.cast::<f32>().write_unaligned(value),
                }
            }
        }
        true
    }

    /// A packed buffer of `depth` covering `bounds`, every pixel from `f(x, y)`.
    pub fn from_fn(
        bounds: OfxRectI,
        depth: BitDepth,
        mut f: impl FnMut(i32, i32) -> [f32; 4],
    ) -> Self {
        let mut buffer = Self::new(bounds, depth, false, 0);
        for y in bounds.y1..bounds.y2 {
            for x in bounds.x1..bounds.x2 {
                buffer.set_pixel(x, y, f(x, y));
            }
        }
        buffer
    }

    /// A copy at another depth, layout and render scale. With `scale` 1 the bounds are the
    /// same; otherwise they are scaled (rounding outwards) and each pixel samples the source
    /// pixel its centre falls in (nearest neighbour), as a host's proxy would.
    pub fn resampled(
        &self,
        depth: BitDepth,
        scale: f64,
        negative_rows: bool,
        row_padding: usize,
    ) -> Self {
        let b = self.bounds;
        let same = (scale - 1.0).abs() < 1e-12;
        let bounds = if same {
            b
        } else {
            OfxRectI {
                x1: (f64::from(b.x1) * scale).floor() as i32,
                y1: (f64::from(b.y1) * scale).floor() as i32,
                x2: (f64::from(b.x2) * scale).ceil() as i32,
                y2: (f64::from(b.y2) * scale).ceil() as i32,
            }
        };
        let mut out = Self::new(bounds, depth, negative_rows, row_padding);
        let source = |v: i32, lo: i32, hi: i32| {
            let s = if same {
                v
            } else {
                ((f64::from(v) + 0.5) / scale).floor() as i32
            };
            s.clamp(lo, (hi - 1).max(lo))
        };
        for y in bounds.y1..bounds.y2 {
            let sy = source(y, b.y1, b.y2);
            for x in bounds.x1..bounds.x2 {
                let sx = source(x, b.x1, b.x2);
                let px = self.pixel(sx, sy).unwrap_or([0.0; 4]);
                out.set_pixel(x, y, px);
            }
        }
        out
    }

    /// Whether pixel (x, y) still holds the poison pattern in every byte.
    pub fn is_poisoned(&self, x: i32, y: i32) -> bool {
        let Some(offset) = self.offset(x, y) else {
            return false;
        };
        let bytes = CHANNELS * self.depth.channel_bytes();
        // SAFETY: the whole pixel is inside the allocation.
        let pixel = unsafe { std::slice::from_raw_parts(self.base.add(offset), bytes) };
        pixel.iter().all(|&b| b == POISON_BYTE)
    }

    /// Every pixel of `window` (clipped to the bounds), row y1 first, as RGBA.
    pub fn pixels(&self, window: OfxRectI) -> Vec<[f32; 4]> {
        let w = intersect(window, self.bounds);
        let mut out = Vec::new();
        for y in w.y1..w.y2 {
            for x in w.x1..w.x2 {
                out.push(self.pixel(x, y).expect("inside bounds"));
            }
        }
        out
    }

    /// How many pixels of `window` were never written.
    pub fn poisoned_count(&self, window: OfxRectI) -> usize {
        let w = intersect(window, self.bounds);
        (w.y1..w.y2)
            .flat_map(|y| (w.x1..w.x2).map(move |x| (x, y)))
            .filter(|&(x, y)| self.is_poisoned(x, y))
            .count()
    }

    /// Mean RGBA over `window`.
    pub fn mean(&self, window: OfxRectI) -> [f64; 4] {
        let pixels = self.pixels(window);
        let mut sum = [0.0f64; 4];
        for p in &pixels {
            for c in 0..4 {
                sum[c] += f64::from(p[c]);
            }
        }
        let n = pixels.len().max(1) as f64;
        sum.map(|s| s / n)
    }
}

impl Drop for ImageBuffer {
    fn drop(&mut self) {
        // SAFETY: allocated in `new` with this layout.
        unsafe { dealloc(self.base, self.layout) };
    }
}

/// The overlap of two rectangles (empty rectangles have x2 <= x1 or y2 <= y1).
pub fn intersect(a: OfxRectI, b: OfxRectI) -> OfxRectI {
    OfxRectI {
        x1: a.x1.max(b.x1),
        y1: a.y1.max(b.y1),
        x2: a.x2.min(b.x2).max(a.x1.max(b.x1)),
        y2: a.y2.min(b.y2).max(a.y1.max(b.y1)),
    }
}

/// An image handed to the plug-in: its property set and the buffer its data pointer targets.
#[derive(Debug)]
pub struct LiveImage {
    pub props: Arc<PropertySet>,
    pub buffer: Arc<ImageBuffer>,
    /// Identifies the render this image belongs to (0 outside renders).
    pub render_id: u64,
    /// The instance that handed the image out.
    pub runtime: Arc<Runtime>,
}

/// Source of `kOfxImagePropUniqueIdentifier` values.
static NEXT_IMAGE_ID: AtomicU64 = AtomicU64::new(1);

/// A new unique image identifier.
pub fn next_image_id() -> u64 {
    NEXT_IMAGE_ID.fetch_add(1, Ordering::Relaxed)
}

/// Memory from `imageMemoryAlloc`. [`ImageMemory::release`] frees the bytes while the
/// (small) object itself stays registered as dead, keeping its handle address unique.
#[derive(Debug)]
pub struct ImageMemory {
    base: Mutex<Option<NonNull<u8>>>,
    layout: Layout,
    /// Nesting count of `imageMemoryLock`.
    pub locks: AtomicI32,
}

// SAFETY: a plain allocation; the host never reads or writes it, only hands out the pointer,
// and the pointer itself is guarded by the mutex.
unsafe impl Send for ImageMemory {}
// SAFETY: as above.
unsafe impl Sync for ImageMemory {}

impl ImageMemory {
    /// Allocates `bytes` (at least 1), 64-byte aligned.
    pub fn new(bytes: usize) -> Option<Self> {
        let layout = Layout::from_size_align(bytes.max(1), ALIGN).ok()?;
        // SAFETY: non-zero size.
        let base = NonNull::new(unsafe { alloc(layout) })?;
        Some(Self {
            base: Mutex::new(Some(base)),
            layout,
            locks: AtomicI32::new(0),
        })
    }

    /// The memory's address, or None once released.
    pub fn ptr(&self) -> Option<*mut u8> {
        lock(&self.base).map(NonNull::as_ptr)
    }

    /// Frees the bytes; false if already freed.
    pub fn release(&self) -> bool {
        match lock(&self.base).take() {
            Some(base) => {
                // SAFETY: allocated in `new` with this layout, and taken out so freed once.
                unsafe { dealloc(base.as_ptr(), self.layout) };
                true
            }
            None => false,
        }
    }
}

impl Drop for ImageMemory {
    fn drop(&mut self) {
        self.release();
    }
}
