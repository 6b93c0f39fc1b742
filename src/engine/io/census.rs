//! Who is attached to which iceoryx2 service, read from the directories alone (#24).
//!
//! A full probe of a connector asks iceoryx2 for each service's details: it parses the service's
//! static config and every attached node's details (TOML), opens shared memory and checks each
//! node's monitor. With 200 ready connectors the safety-net round of those probes every 30 s
//! was most of an idle console's CPU. A census is one pass over the root's node directories
//! (each named by its node's id, whose low 32 bits are its PID, holding one tag file per service
//! the node opened) and its service directory (one static config file per service): the PIDs
//! tagged on each service. The IPC thread predicts each connector's probe from it and runs the
//! full probe only where the prediction differs from the last probe's answer, or cannot be made.
//! It is a filter in front of the probe, never an answer of its own: what it gets wrong (a
//! reused PID, a node that died without its files being cleaned up) costs a full probe, not a
//! wrong count.

use std::collections::{HashMap, HashSet};
use std::path::Path;

/// The live PIDs tagged on each service, and the services whose static config exists.
#[derive(Debug, Default, PartialEq)]
pub struct Census {
    tagged: HashMap<String, Vec<i32>>,
    services: HashSet<String>,
}

/// File-name parts of an iceoryx2 root (from its config).
pub struct Layout<'a> {
    pub node_dir: &'a Path,
    pub service_dir: &'a Path,
    pub prefix: &'a str,
    /// `.service_tag` by default.
    pub tag_suffix: &'a str,
    /// `.service` by default.
    pub service_suffix: &'a str,
}

impl Census {
    /// One pass over `layout`'s directories; `alive` tells whether a PID runs (a node whose
    /// process is gone is not counted).
    pub fn take(layout: &Layout<'_>, alive: impl Fn(i32) -> bool) -> std::io::Result<Census> {
        let mut census = Census::default();
        for entry in std::fs::read_dir(layout.service_dir)?.flatten() {
            let name = entry.file_name();
            let Some(id) = name
                .to_str()
                .and_then(|n| n.strip_prefix(layout.prefix))
                .and_then(|n| n.strip_suffix(layout.service_suffix))
            else {
                continue;
            };
            census.services.insert(id.to_string());
        }
        for entry in std::fs::read_dir(layout.node_dir)?.flatten() {
            // Node directories only: the monitors beside them are files.
            let Some(node_id) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u128>().ok())
            else {
                continue;
            };
            let pid = node_id as u32 as i32;
            if !alive(pid) {
                continue;
            }
            // A node removed meanwhile has no tags any more.
            let Ok(files) = std::fs::read_dir(entry.path()) else {
                continue;
            };
            for file in files.flatten() {
                let name = file.file_name();
                let Some(service) = name
                    .to_str()
                    .and_then(|n| n.strip_prefix(layout.prefix))
                    .and_then(|n| n.strip_suffix(layout.tag_suffix))
                else {
                    continue;
                };
                let pids = census.tagged.entry(service.to_string()).or_default();
                if !pids.contains(&pid) {
                    pids.push(pid);
                }
            }
        }
        Ok(census)
    }

    /// The PIDs attached to service `id`: none when its static config is gone.
    pub fn attached(&self, id: &str) -> &[i32] {
        match (self.services.contains(id), self.tagged.get(id)) {
            (true, Some(pids)) => pids,
            _ => &[],
        }
    }
}

/// Whether `pid` runs (a zombie counts: its exit is seen elsewhere).
pub fn alive(pid: i32) -> bool {
    use nix::errno::Errno;
    pid > 0
        && !matches!(
            nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None),
            Err(Errno::ESRCH)
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A node id with `pid` in its low 32 bits (iceoryx2 0.6.1: pid, seconds, nanos, counter).
    fn node_at(counter: u128, pid: u32) -> String {
        ((counter << 96) | (5u128 << 64) | (3u128 << 32) | pid as u128).to_string()
    }

    fn node(pid: u32) -> String {
        node_at(7, pid)
    }

    #[test]
    fn a_census_counts_the_live_nodes_tagged_on_each_existing_service() {
        let d = tempfile::tempdir().expect("tmp");
        let (nodes, services) = (d.path().join("nodes"), d.path().join("services"));
        std::fs::create_dir_all(&services).expect("mkdir");
        for svc in ["to", "from"] {
            std::fs::write(services.join(format!("p_{svc}.service")), "").expect("w");
        }
        let tag = |pid: u32, svc: &str| {
            let dir = nodes.join(node(pid));
            std::fs::create_dir_all(&dir).expect("mkdir");
            std::fs::write(dir.join(format!("p_{svc}.service_tag")), "").expect("w");
            std::fs::write(dir.join("p_node.details"), "").expect("w");
        };
        tag(100, "to");
        tag(100, "from");
        tag(200, "to");
        // A dead bot's node left behind, a tag of a service whose config is gone, a monitor.
        tag(300, "to");
        tag(400, "gone");
        std::fs::write(nodes.join(format!("p_{}.node_monitor", node(100))), "").expect("w");
        let layout = Layout {
            node_dir: &nodes,
            service_dir: &services,
            prefix: "p_",
            tag_suffix: ".service_tag",
            service_suffix: ".service",
        };
        let census = Census::take(&layout, |pid| pid != 300).expect("census");
        let mut to = census.attached("to").to_vec();
        to.sort_unstable();
        assert_eq!(to, [100, 200]);
        assert_eq!(census.attached("from"), [100]);
        assert!(census.attached("gone").is_empty());
        assert!(census.attached("unknown").is_empty());
        // A second node of the same process counts it once.
        let second = nodes.join(node_at(8, 100));
        std::fs::create_dir_all(&second).expect("mkdir");
        std::fs::write(second.join("p_to.service_tag"), "").expect("w");
        let census = Census::take(&layout, |pid| pid != 300).expect("census");
        assert_eq!(census.attached("to").len(), 2);
    }

    #[test]
    fn this_process_is_alive_and_a_free_pid_is_not() {
        assert!(alive(std::process::id() as i32));
        assert!(!alive(0));
        assert!(!alive(i32::MAX));
    }
}
