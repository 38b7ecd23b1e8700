//! How much memory the machine can give this process now, per platform.
//!
//! Linux: `MemAvailable` from `/proc/meminfo`, lowered to the cgroup's remaining allowance when
//! the process runs under a memory limit (containers, systemd slices, render-farm jobs), since
//! that is where the out-of-memory killer acts. macOS: free, inactive, speculative and purgeable
//! pages. Windows: `ullAvailPhys` of `GlobalMemoryStatusEx`.

/// Bytes available now, or `None` where the platform does not say.
pub fn available_memory() -> Option<u64> {
    imp::available()
}

#[cfg(target_os = "linux")]
mod imp {
    use std::fs;

    pub fn available() -> Option<u64> {
        let meminfo = fs::read_to_string("/proc/meminfo").ok()?;
        let available = meminfo_kib(&meminfo, "MemAvailable:")? * 1024;
        Some(match cgroup_headroom() {
            Some(h) => available.min(h),
            None => available,
        })
    }

    /// A `/proc/meminfo` field in KiB.
    pub(super) fn meminfo_kib(text: &str, key: &str) -> Option<u64> {
        text.lines()
            .find(|l| l.starts_with(key))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    }

    /// Limit minus usage of this process's cgroup (v2, else v1), when it has a limit.
    fn cgroup_headroom() -> Option<u64> {
        let cgroups = fs::read_to_string("/proc/self/cgroup").ok()?;
        for line in cgroups.lines() {
            let mut parts = line.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            let dir = if controllers.is_empty() {
                format!("/sys/fs/cgroup{path}")
            } else if controllers.split(',').any(|c| c == "memory") {
                format!("/sys/fs/cgroup/memory{path}")
            } else {
                continue;
            };
            let (limit, usage) = if controllers.is_empty() {
                ("memory.max", "memory.current")
            } else {
                ("memory.limit_in_bytes", "memory.usage_in_bytes")
            };
            let read = |f: &str| {
                fs::read_to_string(format!("{dir}/{f}"))
                    .ok()
                    .and_then(|t| t.trim().parse::<u64>().ok())
            };
            // "max" (v2) or a huge number (v1) means no limit.
            if let (Some(l), Some(u)) = (read(limit), read(usage))
                && l < (1u64 << 60)
            {
                return Some(l.saturating_sub(u));
            }
        }
        None
    }
}

#[cfg(target_os = "macos")]
mod imp {
    // Mach's host statistics, declared from the documented C interface.
    #[repr(C)]
    #[derive(Default)]
    struct VmStatistics64 {
        free_count: u32,
        active_count: u32,
        inactive_count: u32,
        wire_count: u32,
        zero_fill_count: u64,
        reactivations: u64,
        pageins: u64,
        pageouts: u64,
        faults: u64,
        cow_faults: u64,
        lookups: u64,
        hits: u64,
        purges: u64,
        purgeable_count: u32,
        speculative_count: u32,
        decompressions: u64,
        compressions: u64,
        swapins: u64,
        swapouts: u64,
        compressor_page_count: u32,
        throttled_count: u32,
        external_page_count: u32,
        internal_page_count: u32,
        total_uncompressed_pages_in_compressor: u64,
    }

    const HOST_VM_INFO64: i32 = 4;

    unsafe extern "C" {
        fn mach_host_self() -> u32;
        fn host_statistics64(host: u32, flavor: i32, info: *mut i32, count: *mut u32) -> i32;
        fn getpagesize() -> i32;
    }

    pub fn available() -> Option<u64> {
        let mut stats = VmStatistics64::default();
        let mut count = (std::mem::size_of::<VmStatistics64>() / std::mem::size_of::<i32>()) as u32;
        // SAFETY: `stats` is a writable struct of `count` 32-bit words, as the call expects.
        let kr = unsafe {
            host_statistics64(
                mach_host_self(),
                HOST_VM_INFO64,
                (&mut stats as *mut VmStatistics64).cast(),
                &mut count,
            )
        };
        if kr != 0 {
            return None;
        }
        // SAFETY: no arguments; returns the VM page size.
        let page = u64::try_from(unsafe { getpagesize() }).ok()?;
        let pages = u64::from(stats.free_count)
            + u64::from(stats.inactive_count)
            + u64::from(stats.speculative_count)
            + u64::from(stats.purgeable_count);
        Some(pages * page)
    }
}

#[cfg(windows)]
mod imp {
    #[repr(C)]
    struct MemoryStatusEx {
        length: u32,
        memory_load: u32,
        total_phys: u64,
        avail_phys: u64,
        total_page_file: u64,
        avail_page_file: u64,
        total_virtual: u64,
        avail_virtual: u64,
        avail_extended_virtual: u64,
    }

    #[link(name = "kernel32")]
    unsafe extern "system" {
        fn GlobalMemoryStatusEx(buffer: *mut MemoryStatusEx) -> i32;
    }

    pub fn available() -> Option<u64> {
        let mut s = MemoryStatusEx {
            length: std::mem::size_of::<MemoryStatusEx>() as u32,
            memory_load: 0,
            total_phys: 0,
            avail_phys: 0,
            total_page_file: 0,
            avail_page_file: 0,
            total_virtual: 0,
            avail_virtual: 0,
            avail_extended_virtual: 0,
        };
        // SAFETY: `s` is a MEMORYSTATUSEX with its length field set, as the call requires.
        (unsafe { GlobalMemoryStatusEx(&mut s) } != 0).then_some(s.avail_phys)
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos", windows)))]
mod imp {
    pub fn available() -> Option<u64> {
        None
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn meminfo_fields_parse_and_the_machine_reports_some_memory() {
        let text = "MemTotal:       24605520 kB\nMemAvailable:   20000000 kB\n";
        assert_eq!(
            super::imp::meminfo_kib(text, "MemAvailable:"),
            Some(20_000_000)
        );
        assert_eq!(super::imp::meminfo_kib(text, "Nope:"), None);
        let a = super::available_memory().expect("linux reports MemAvailable");
        assert!(a > 16 << 20, "{a}");
    }
}
