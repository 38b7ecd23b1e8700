//! Peak resident memory of this process, for reports and benchmarks.

/// The most resident memory this process has used, in bytes, where the platform says
/// (`VmHWM` in `/proc/self/status` on Linux); `None` elsewhere.
pub fn peak_resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Hands memory the allocator holds but no longer uses back to the system (glibc keeps freed
/// heap for reuse; after a session is released in sequential mode that can be gigabytes, e.g.
/// the float32 copies ONNX Runtime's CPU provider made of a float16 graph's weights).
pub fn trim() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks and shrinks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Starts a new peak: the next [`peak_resident_bytes`] counts from the memory in use now
/// (Linux: writing 5 to `/proc/self/clear_refs` resets `VmHWM`). Returns whether it could.
///
/// For programs that own their process (the CLI's per-phase figures); a plug-in must not call
/// it, the peak belongs to the host.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

#[cfg(test)]
mod tests {
    #[cfg(target_os = "linux")]
    #[test]
    fn linux_reports_a_plausible_peak() {
        let before = super::peak_resident_bytes().expect("linux has VmHWM");
        let big = vec![1u8; 64 << 20];
        let after = super::peak_resident_bytes().expect("linux has VmHWM");
        assert!(big.iter().all(|&b| b == 1));
        assert!(after >= before && after >= 64 << 20, "{before} -> {after}");
        drop(big);
        if super::reset_peak() {
            let reset = super::peak_resident_bytes().expect("linux has VmHWM");
            assert!(
                reset < after,
                "the peak restarts from the memory in use: {after} -> {reset}"
            );
        }
    }
}
