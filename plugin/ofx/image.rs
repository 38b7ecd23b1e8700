//! Images fetched from clips: bounds, pixel format, and rows of bytes to read or write.

use ofx_sys as sys;

use super::error::{OfxError, OfxResult};
use super::props::PropertySet;

/// Bits per component of an image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PixelDepth {
    Byte,
    Short,
    Float,
}

impl PixelDepth {
    /// Bytes per component.
    pub fn bytes(self) -> usize {
        match self {
            Self::Byte => 1,
            Self::Short => 2,
            Self::Float => 4,
        }
    }

    /// Parses kOfxImageEffectPropPixelDepth.
    pub fn parse(s: &str) -> Option<Self> {
        let raw = |c: &std::ffi::CStr| c.to_str().unwrap_or_default() == s;
        if raw(sys::kOfxBitDepthByte) {
            Some(Self::Byte)
        } else if raw(sys::kOfxBitDepthShort) {
            Some(Self::Short)
        } else if raw(sys::kOfxBitDepthFloat) {
            Some(Self::Float)
        } else {
            None
        }
    }
}

type Release = Option<unsafe extern "C" fn(sys::OfxPropertySetHandle) -> sys::OfxStatus>;

/// An image the host lent us; released when dropped.
pub struct Image {
    props: PropertySet,
    release: Release,
    data: *mut u8,
    /// Pixel bounds x1, y1, x2, y2 (y up).
    pub bounds: [i32; 4],
    /// Bytes from one row to the next; negative when rows go down in memory.
    pub row_bytes: isize,
    pub depth: PixelDepth,
    /// Components per pixel (4 for RGBA, 3 for RGB, 1 for alpha).
    pub components: usize,
    pub pixel_aspect: f64,
    pub render_scale: [f64; 2],
}

// SAFETY: the host lends the image to the render call that fetched it; we write it from that
// call only (possibly split across scoped threads over disjoint rows).
unsafe impl Send for Image {}

impl Image {
    pub(crate) fn new(props: PropertySet, release: Release) -> OfxResult<Self> {
        let mut img = Self {
            props,
            release,
            data: std::ptr::null_mut(),
            bounds: [0; 4],
            row_bytes: 0,
            depth: PixelDepth::Float,
            components: 4,
            pixel_aspect: 1.0,
            render_scale: [1.0, 1.0],
        };
        // NOTE: fill after construction so Drop releases the image even if a read fails.
        img.data = img.props.get_pointer(sys::kOfxImagePropData, 0)? as *mut u8;
        img.bounds = img.props.get_ints::<4>(sys::kOfxImagePropBounds)?;
        img.row_bytes = img.props.get_int(sys::kOfxImagePropRowBytes, 0)? as isize;
        let depth = img
            .props
            .get_string(sys::kOfxImageEffectPropPixelDepth, 0)?;
        img.depth = PixelDepth::parse(&depth).ok_or_else(|| {
            OfxError::new(
                super::error::Status::ErrImageFormat,
                format!("Promptreel cannot write {depth} images; use 8-bit, 16-bit or float"),
            )
        })?;
        let comps = img
            .props
            .get_string(sys::kOfxImageEffectPropComponents, 0)?;
        img.components = match comps.as_str() {
            c if c == sys::kOfxImageComponentRGBA.to_str().unwrap_or_default() => 4,
            c if c == sys::kOfxImageComponentRGB.to_str().unwrap_or_default() => 3,
            c if c == sys::kOfxImageComponentAlpha.to_str().unwrap_or_default() => 1,
            other => {
                return Err(OfxError::new(
                    super::error::Status::ErrImageFormat,
                    format!("Promptreel cannot write {other} images; use RGBA or RGB"),
                ));
            }
        };
        img.pixel_aspect = img
            .props
            .get_double(sys::kOfxImagePropPixelAspectRatio, 0)
            .unwrap_or(1.0);
        img.render_scale = img
            .props
            .get_doubles::<2>(sys::kOfxImageEffectPropRenderScale)
            .unwrap_or([1.0, 1.0]);
        let width = (img.bounds[2] - img.bounds[0]).max(0) as usize;
        let min_row = width * img.components * img.depth.bytes();
        if img.data.is_null() || img.row_bytes.unsigned_abs() < min_row {
            return Err(OfxError::failed(format!(
                "the host's image is unusable (data {:?}, row bytes {}, width {width})",
                img.data, img.row_bytes
            )));
        }
        Ok(img)
    }

    pub fn width(&self) -> usize {
        (self.bounds[2] - self.bounds[0]).max(0) as usize
    }

    pub fn height(&self) -> usize {
        (self.bounds[3] - self.bounds[1]).max(0) as usize
    }

    /// Bytes per pixel.
    pub fn pixel_bytes(&self) -> usize {
        self.components * self.depth.bytes()
    }

    /// The rows `y0..y1` (pixel coordinates, y up) clipped to the bounds, each as (y, bytes of
    /// the row from x = bounds.x1, `width * pixel_bytes` long). Rows are disjoint, so they may be
    /// filled from several threads.
    pub fn rows_mut(&mut self, y0: i32, y1: i32) -> Vec<(i32, &mut [u8])> {
        let y0 = y0.max(self.bounds[1]);
        let y1 = y1.min(self.bounds[3]);
        let len = self.width() * self.pixel_bytes();
        let mut rows = Vec::with_capacity((y1 - y0).max(0) as usize);
        for y in y0..y1 {
            let offset = (y - self.bounds[1]) as isize * self.row_bytes;
            // SAFETY: `data` addresses the row at bounds.y1 and each next row is `row_bytes`
            // away (negative for bottom-up-in-memory layouts); y is within the bounds, each row
            // holds at least `len` bytes (checked in new), and rows do not overlap because
            // |row_bytes| >= len. The slices live no longer than `&mut self`.
            let row = unsafe { std::slice::from_raw_parts_mut(self.data.offset(offset), len) };
            rows.push((y, row));
        }
        rows
    }

    /// Row `y` (pixel coordinates, y up) from x = bounds.x1, `width * pixel_bytes` long;
    /// `None` outside the bounds.
    pub fn row(&self, y: i32) -> Option<&[u8]> {
        if y < self.bounds[1] || y >= self.bounds[3] {
            return None;
        }
        let len = self.width() * self.pixel_bytes();
        let offset = (y - self.bounds[1]) as isize * self.row_bytes;
        // SAFETY: as in `rows_mut`: y is within the bounds and the row holds at least `len`
        // bytes; the slice lives no longer than `&self`, and the image is not written while
        // borrowed shared.
        Some(unsafe { std::slice::from_raw_parts(self.data.offset(offset), len) })
    }

    /// `kOfxImagePropUniqueIdentifier`: a label the host changes whenever the image's content
    /// changes (OFX 1.2); `None` when the host gives none.
    pub fn unique_identifier(&self) -> Option<String> {
        self.props
            .get_string(sys::kOfxImagePropUniqueIdentifier, 0)
            .ok()
            .filter(|id| !id.is_empty())
    }

    pub fn properties(&self) -> &PropertySet {
        &self.props
    }
}

impl Drop for Image {
    fn drop(&mut self) {
        if let Some(f) = self.release {
            // SAFETY: releases the image handle this value fetched, exactly once.
            let _ = unsafe { f(self.props.raw()) };
        }
    }
}
