//! SQLite's memory from the binary's allocator (mimalloc) rather than glibc's, and without
//! SQLite's memory statistics. SQLite allocates a copy of every value bound to a statement and
//! of every row it writes; through glibc that was about a fifth of the replay's writer thread,
//! in glibc's free lists and in the global mutex SQLite takes around each allocation to count
//! it (see docs/performance.md). Nothing in enkaku reads those statistics.

use libmimalloc_sys::{mi_free, mi_good_size, mi_malloc, mi_realloc, mi_usable_size};
use libsqlite3_sys::{
    SQLITE_CONFIG_MALLOC, SQLITE_CONFIG_MEMSTATUS, SQLITE_OK, sqlite3_config, sqlite3_mem_methods,
};
use std::ffi::{c_int, c_void};

/// Set both before SQLite starts: call first thing in `main`, before any connection opens.
/// Once SQLite has started it refuses the change (and keeps glibc's allocator, which is only
/// slower), so a refusal is logged, not fatal.
pub fn use_the_binary_allocator() -> Result<(), String> {
    let methods = sqlite3_mem_methods {
        xMalloc: Some(malloc),
        xFree: Some(free),
        xRealloc: Some(realloc),
        xSize: Some(size),
        xRoundup: Some(roundup),
        xInit: Some(init),
        xShutdown: Some(shutdown),
        pAppData: std::ptr::null_mut(),
    };
    // SAFETY: both options are documented as valid before `sqlite3_initialize`; SQLite copies
    // the methods, whose functions are `mimalloc`'s, which meets SQLite's contract (8-byte
    // alignment, `xSize` of any live block, `xRealloc` keeping the contents).
    let (memory, statistics) = unsafe {
        (
            sqlite3_config(SQLITE_CONFIG_MALLOC, &methods as *const sqlite3_mem_methods),
            sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0 as c_int),
        )
    };
    match (memory, statistics) {
        (SQLITE_OK, SQLITE_OK) => Ok(()),
        _ => Err(format!(
            "SQLite refused its allocator (codes {memory}, {statistics}): it had already started"
        )),
    }
}

/// SQLite asks for sizes as `int`; a negative one (never asked) gets nothing.
fn bytes(n: c_int) -> usize {
    usize::try_from(n).unwrap_or(0)
}

unsafe extern "C" fn malloc(n: c_int) -> *mut c_void {
    // SAFETY: any size is valid; null is SQLite's out-of-memory answer.
    unsafe { mi_malloc(bytes(n)) }
}

unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: SQLite frees only what `malloc`/`realloc` above gave it.
    unsafe { mi_free(p) }
}

unsafe extern "C" fn realloc(p: *mut c_void, n: c_int) -> *mut c_void {
    // SAFETY: as `free`.
    unsafe { mi_realloc(p, bytes(n)) }
}

unsafe extern "C" fn size(p: *mut c_void) -> c_int {
    // SAFETY: as `free`; SQLite's blocks are below 2 GiB, its own limit.
    c_int::try_from(unsafe { mi_usable_size(p) }).unwrap_or(c_int::MAX)
}

unsafe extern "C" fn roundup(n: c_int) -> c_int {
    // SAFETY: a pure function of the size.
    c_int::try_from(unsafe { mi_good_size(bytes(n)) }).unwrap_or(n)
}

unsafe extern "C" fn init(_: *mut c_void) -> c_int {
    SQLITE_OK
}

unsafe extern "C" fn shutdown(_: *mut c_void) {}

#[cfg(test)]
mod tests {
    use super::use_the_binary_allocator;
    use sqlx::{Connection, SqliteConnection};

    /// The only test of the binary's own target, so SQLite has not started before it.
    #[tokio::test]
    async fn sqlite_runs_on_the_binary_allocator_without_statistics() {
        use_the_binary_allocator().expect("SQLite had not started");
        let mut db = SqliteConnection::connect("sqlite::memory:").await.unwrap();
        // Megabytes of values grown, copied and freed by SQLite.
        let (rows, length): (i64, i64) = sqlx::query_as(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
             SELECT count(*), length(group_concat(hex(randomblob(100)), ',')) FROM n",
        )
        .fetch_one(&mut db)
        .await
        .unwrap();
        assert_eq!((rows, length), (20_000, 20_000 * 200 + 19_999));
        // SAFETY: a plain read of SQLite's counter.
        let counted = unsafe { libsqlite3_sys::sqlite3_memory_used() };
        assert_eq!(counted, 0, "SQLite still counts its memory");
        let again = use_the_binary_allocator().expect_err("SQLite has started");
        assert!(again.contains("already started"), "{again}");
    }
}
