//! The extension's allocator: mimalloc, asked for plain blocks wherever they suffice.
//!
//! Each connection's records, heads and messages are many small blocks freed in another
//! order than made: glibc's malloc spent 17% of a one-request-per-connection run in
//! consolidating and unlinking them; mimalloc's size-class pages do not. The `mimalloc`
//! crate's own `GlobalAlloc` asks for every block by alignment (`mi_malloc_aligned`,
//! even for bytes), whose fallback for a size class that is not a power of two (a
//! 48-byte `i128`-holding value) is to allocate size + 15 bytes: 6% of the core's
//! instructions on such a run. A plain `mi_malloc` block is aligned to 16 bytes for a
//! size that is a multiple of 16 (and a layout's size is a multiple of its alignment),
//! to 8 for every size: checked all the same, the aligned call the fallback.
use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

use libmimalloc_sys as mi;

pub struct Allocator;

/// What a plain `mi_malloc` block is aligned to, at least.
const PLAIN_ALIGN: usize = 16;

#[inline(always)]
fn aligned(p: *mut c_void, align: usize) -> bool {
    (p as usize) & (align - 1) == 0
}

/// A block from `plain` where its alignment is the layout's, else from `aligned`.
///
/// # Safety
/// As `GlobalAlloc::alloc`: the caller frees the block with `mi_free`.
#[inline(always)]
unsafe fn plain_or_aligned(
    layout: Layout,
    plain: unsafe extern "C" fn(usize) -> *mut c_void,
    aligned_by: unsafe extern "C" fn(usize, usize) -> *mut c_void,
) -> *mut u8 {
    let (size, align) = (layout.size(), layout.align());
    if align <= PLAIN_ALIGN {
        let p = plain(size);
        if p.is_null() || aligned(p, align) {
            return p.cast();
        }
        mi::mi_free(p);
    }
    aligned_by(size, align).cast()
}

// SAFETY: every block comes from mimalloc and goes back to it (`mi_free` takes blocks
// of either kind); a block is returned only if it has the layout's alignment.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        plain_or_aligned(layout, mi::mi_malloc, mi::mi_malloc_aligned)
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        plain_or_aligned(layout, mi::mi_zalloc, mi::mi_zalloc_aligned)
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        mi::mi_free(ptr.cast());
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let align = layout.align();
        if align <= PLAIN_ALIGN {
            let p = mi::mi_realloc(ptr.cast(), new_size);
            if p.is_null() || aligned(p, align) {
                return p.cast();
            }
            // moved to a block of the wrong alignment: the data on to one of the right
            let q = mi::mi_malloc_aligned(new_size, align);
            if !q.is_null() {
                std::ptr::copy_nonoverlapping(p.cast::<u8>(), q.cast::<u8>(), new_size);
            }
            mi::mi_free(p);
            return q.cast();
        }
        mi::mi_realloc_aligned(ptr.cast(), new_size, align).cast()
    }
}
