//! Compiling a new version of a plugin in use must not starve polling: the
//! version in use keeps mapping meanwhile. Such a compile runs at the lowest
//! scheduling priority (nice 19) on a thread of its own, helped by
//! Cranelift's worker pool (rayon's global pool, which wasmtime compiles
//! functions on), whose threads are always at that priority. A load that
//! resources wait for (at start, or for a resource without a plugin) runs on
//! a normal thread.

/// Lowers the calling thread to the lowest priority. Linux keeps a nice value
/// per thread; elsewhere this does nothing.
pub(crate) fn lower_this_thread() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority only reads its arguments; `0` is the calling thread on Linux.
    unsafe {
        libc::setpriority(libc::PRIO_PROCESS, 0, 19);
    }
}

/// Starts Cranelift's worker pool with low-priority threads. Only the first
/// call in a process can set it up; later ones find it built.
pub(crate) fn lower_compile_pool() {
    let _ = rayon::ThreadPoolBuilder::new().start_handler(|_| lower_this_thread()).build_global();
}

/// Runs `work` on a new low-priority thread and waits for it without blocking the async reactor.
pub async fn in_background<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> T {
    let (sender, receiver) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("plugin-compile".into())
        .spawn(move || {
            lower_this_thread();
            let _ = sender.send(work());
        })
        .expect("a thread can be started");
    receiver.await.expect("the compile thread sends its result")
}
