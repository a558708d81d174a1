//! The global allocator of the CLI, the examples and the benchmarks: mimalloc, entered
//! through its plain `mi_malloc` whenever the alignment asked for is one every mimalloc
//! block has anyway.
//!
//! `mimalloc::MiMalloc` passes every request to `mi_malloc_aligned`. That entry's fast
//! path takes a block only while the size class's free list is non-empty; otherwise,
//! for a size that is not a power of two, it over-allocates from a larger size class,
//! and the freed blocks of the first class are never collected again (only the plain
//! path collects them). A simulation allocates the same message sizes over and over, so
//! after warm-up about half its allocations took that slow path. Blocks of every size
//! class are multiples of 8 bytes from an aligned page, so 8-byte alignment needs
//! nothing more than `mi_malloc`. Allocation never affects what a run does.

use std::alloc::{GlobalAlloc, Layout};
use std::ffi::c_void;

/// Every mimalloc block is aligned to this (`MI_INTPTR_SIZE` on 64-bit targets).
const BLOCK_ALIGN: usize = 8;

// mimalloc's C entry points, linked in through the `mimalloc` crate.
unsafe extern "C" {
    fn mi_malloc(size: usize) -> *mut c_void;
    fn mi_zalloc(size: usize) -> *mut c_void;
    fn mi_realloc(pointer: *mut c_void, new_size: usize) -> *mut c_void;
}

pub struct Allocator;

// SAFETY: each call hands mimalloc a request it serves with at least `layout.align()`
// alignment (plain entries only for alignments every block has), and frees through
// `MiMalloc`, which takes blocks from either entry.
unsafe impl GlobalAlloc for Allocator {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= BLOCK_ALIGN {
            unsafe { mi_malloc(layout.size()) as *mut u8 }
        } else {
            unsafe { mimalloc::MiMalloc.alloc(layout) }
        }
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        if layout.align() <= BLOCK_ALIGN {
            unsafe { mi_zalloc(layout.size()) as *mut u8 }
        } else {
            unsafe { mimalloc::MiMalloc.alloc_zeroed(layout) }
        }
    }

    #[inline]
    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        unsafe { mimalloc::MiMalloc.dealloc(pointer, layout) }
    }

    #[inline]
    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        if layout.align() <= BLOCK_ALIGN {
            unsafe { mi_realloc(pointer as *mut c_void, new_size) as *mut u8 }
        } else {
            unsafe { mimalloc::MiMalloc.realloc(pointer, layout, new_size) }
        }
    }
}
