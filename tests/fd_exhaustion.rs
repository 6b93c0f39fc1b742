//! A console out of file descriptors (EMFILE) is told so, not sent to delete iceoryx2 files.
//! Alone in its own test binary: it lowers this process's descriptor limit and uses it up.

mod common;

use iceoryx2::prelude::*;
use switchboard::engine::io::ipc;

#[test]
fn out_of_file_descriptors_is_named_not_taken_for_stale_resources() {
    let fx = common::Fixture::new("emfile");
    let config = ipc::config_for(fx.path()).expect("iceoryx2 config");
    let node = NodeBuilder::new()
        .config(&config)
        .signal_handling_mode(SignalHandlingMode::Disabled)
        .create::<iceoryx2::service::ipc::Service>()
        .expect("node");
    let name = format!("emfile{}", fx.prefix);
    let sn = ServiceName::new(&ipc::to_bot(&name)).expect("service name");
    let service = node
        .service_builder(&sn)
        .publish_subscribe::<[u8]>()
        .user_header::<ipc::CustomHeader>()
        .open_or_create()
        .expect("service");
    let _publisher = service.publisher_builder().create().expect("publisher");
    // Healthy: nothing to clean, nobody else holds the name.
    assert!(matches!(
        ipc::prepare_start(&node, &config, "nobody-here"),
        Ok(0)
    ));

    // Use every descriptor up under a low limit.
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let before = getrlimit(Resource::Nofile);
    let limit = 256;
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(limit),
            maximum: before.maximum,
        },
    )
    .expect("setrlimit");
    let mut held = Vec::new();
    while let Ok(f) = std::fs::File::open("/dev/null") {
        held.push(f);
    }
    let result = ipc::prepare_start(&node, &config, &name);
    drop(held);
    setrlimit(Resource::Nofile, before).expect("restore the limit");
    let text = format!("{result:?}");
    assert!(text.contains("too many open files"), "{text}");
    assert!(
        text.contains(&format!("{limit}")),
        "names the limit: {text}"
    );
    assert!(!text.contains("stale"), "{text}");
}
