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

/// Parses `/proc/PID/stat` and `/proc/PID/statm` contents.
pub fn parse(stat: &str, statm: &str, page_size: u64) -> Option<Sample> {
    // After the command name (which may hold spaces and parentheses): field 3 onwards.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    let resident: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(Sample {
        cpu_ticks: utime + stime,
        rss_bytes: resident * page_size,
    })
}

/// Reads `pid` now; None if it is gone.
pub fn sample(pid: i32) -> Option<Sample> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).ok()?;
    parse(&stat, &statm, page_size())
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

/// `12M`, `1.3G`: memory in a title.
pub fn short_bytes(b: u64) -> String {
    let mib = b as f64 / (1024.0 * 1024.0);
    if mib < 1024.0 {
        format!("{mib:.0}M")
    } else {
        format!("{:.1}G", mib / 1024.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_read_after_the_command_name() {
        let stat =
            "4242 (conn (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 5 0 12345 0 0";
        let s = parse(stat, "5000 2560 100 1 0 300 0", 4096).expect("parsed");
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
        assert!(parse("garbage", "", 4096).is_none());
    }

    #[test]
    fn this_process_can_be_sampled() {
        let s = sample(std::process::id() as i32).expect("our own /proc entry");
        assert!(s.rss_bytes > 0);
    }
}
