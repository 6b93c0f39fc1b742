//! CPU and memory of a connector's process, read from /proc (DESIGN: sampled at most once a
//! second, and only while someone looks: the TUI, the metrics endpoint, a `status` request).

/// Clock ticks per second of /proc's time fields (`sysconf(_SC_CLK_TCK)`, 100 on Linux).
const TICKS_PER_SEC: f64 = 100.0;

/// One reading of a process.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// utime + stime, in clock ticks.
    pub cpu_ticks: u64,
    /// Resident set size, bytes.
    pub rss_bytes: u64,
}

/// What a connector's process uses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// Percent of one core over the last sampling interval.
    pub cpu_pct: f64,
    pub rss_bytes: u64,
}

/// Parses `/proc/PID/stat`: CPU time (utime + stime) and the resident set (field 24, pages).
pub fn parse(stat: &str, page_size: u64) -> Option<Sample> {
    // After the command name (which may hold spaces and parentheses): field 3 onwards.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime, stime and rss are fields 14, 15 and 24 of the whole line: 11, 12, 21 after it.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let resident: u64 = fields.get(21)?.parse().ok()?;
    Some(Sample {
        cpu_ticks: utime + stime,
        rss_bytes: resident * page_size,
    })
}

/// Reads one process's `/proc/PID/stat` through a file kept open: each reading is one
/// `pread` (the kernel writes the figures afresh at offset 0), not an open, a stat, reads and
/// a close — with 8 connectors on screen that was most of an idle console's system calls.
#[derive(Debug)]
pub struct Reader {
    pub pid: i32,
    file: Option<std::fs::File>,
}

impl Reader {
    pub fn new(pid: i32) -> Reader {
        Reader {
            pid,
            file: std::fs::File::open(format!("/proc/{pid}/stat")).ok(),
        }
    }

    /// Reads the process now; None if it is gone.
    pub fn sample(&mut self) -> Option<Sample> {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 1024];
        let n = self.file.as_ref()?.read_at(&mut buf, 0).ok()?;
        parse(std::str::from_utf8(&buf[..n]).ok()?, page_size())
    }
}

fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

/// The usage between two samples `secs` apart.
pub fn between(before: Sample, after: Sample, secs: f64) -> Usage {
    let ticks = after.cpu_ticks.saturating_sub(before.cpu_ticks) as f64;
    Usage {
        cpu_pct: if secs > 0.0 {
            ticks / TICKS_PER_SEC / secs * 100.0
        } else {
            0.0
        },
        rss_bytes: after.rss_bytes,
    }
}

/// Seconds of readings a CPU figure averages over: a connector that uses a tick now and then
/// reads as a steady 0.4 %, not as 0 % and 1 % in turn (each turn a redraw of every screen).
pub const WINDOW_SECS: f64 = 5.0;

/// What a process used over its last readings: a [`Reader`] and a [`Window`].
#[derive(Debug)]
pub struct Probe {
    pub reader: Reader,
    pub window: Window,
}

impl Probe {
    pub fn new(pid: i32) -> Probe {
        Probe {
            reader: Reader::new(pid),
            window: Window::new(),
        }
    }

    /// Reads the process at `at` seconds: None while there is no interval yet, or when the
    /// process is gone.
    pub fn read(&mut self, at: f64) -> Option<Usage> {
        let sample = self.reader.sample()?;
        self.window.push(sample, at)
    }
}

impl Default for Window {
    fn default() -> Self {
        Window::new()
    }
}

/// The last readings of one process, for a CPU figure averaged over [`WINDOW_SECS`].
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    /// (reading, when in seconds on any monotonic clock), oldest first.
    readings: std::collections::VecDeque<(Sample, f64)>,
}

impl Window {
    pub fn new() -> Window {
        Window {
            readings: std::collections::VecDeque::new(),
        }
    }

    /// Adds a reading taken at `at` seconds; the usage over the window so far (None on the
    /// first reading: no interval yet).
    pub fn push(&mut self, sample: Sample, at: f64) -> Option<Usage> {
        self.readings.push_back((sample, at));
        // Keep the newest reading at least WINDOW_SECS after the oldest one kept.
        while self.readings.len() > 2
            && self
                .readings
                .get(1)
                .is_some_and(|(_, t)| at - t >= WINDOW_SECS)
        {
            self.readings.pop_front();
        }
        let (first, t0) = *self.readings.front()?;
        (self.readings.len() >= 2).then(|| between(first, sample, at - t0))
    }
}

pub use crate::model::format::short_bytes;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_is_averaged_over_the_window_so_a_tick_now_and_then_reads_steady() {
        let mut w = Window::new();
        let s = |ticks| Sample {
            cpu_ticks: ticks,
            rss_bytes: 1 << 20,
        };
        assert_eq!(w.push(s(0), 0.0), None);
        // One tick in the first second: 1 % over 1 s.
        assert!((w.push(s(1), 1.0).expect("usage").cpu_pct - 1.0).abs() < 1e-9);
        // Then a tick every other second: the figure settles near 0.5 %, never back to 0.
        let mut ticks = 1;
        for sec in 2..=20u64 {
            if sec % 2 == 0 {
                ticks += 1;
            }
            let u = w.push(s(ticks), sec as f64).expect("usage");
            assert!(u.cpu_pct > 0.3, "{sec}: {}", u.cpu_pct);
            if sec >= 7 {
                assert!(u.cpu_pct < 0.7, "{sec}: {}", u.cpu_pct);
            }
        }
        assert!(w.readings.len() <= 7, "bounded: {}", w.readings.len());
    }

    #[test]
    fn stat_fields_are_read_after_the_command_name() {
        let stat =
            "4242 (conn (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 5 0 12345 999999 2560 18446744073709551615";
        let s = parse(stat, 4096).expect("parsed");
        assert_eq!(s.cpu_ticks, 300);
        assert_eq!(s.rss_bytes, 2560 * 4096);
        let u = between(
            Sample {
                cpu_ticks: 100,
                rss_bytes: 0,
            },
            Sample {
                cpu_ticks: 150,
                rss_bytes: 10,
            },
            1.0,
        );
        assert_eq!(u.cpu_pct, 50.0);
        assert_eq!(short_bytes(45 * 1024 * 1024), "45M");
        assert!(parse("garbage", 4096).is_none());
        // This very process, read twice through one open file.
        let mut r = Reader::new(std::process::id() as i32);
        let (a, b) = (r.sample().expect("read"), r.sample().expect("read again"));
        assert!(a.rss_bytes > 0 && b.cpu_ticks >= a.cpu_ticks);
    }

    #[test]
    fn a_gone_process_reads_as_none() {
        // PID 0 has no /proc entry: the reader opens nothing and reads nothing.
        assert!(Reader::new(0).sample().is_none());
        assert!(Probe::new(0).read(1.0).is_none());
    }
}
