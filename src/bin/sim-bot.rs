//! A stand-in for an hftbacktest bot: opens `{NAME}/ToBot` as a subscriber and `{NAME}/FromBot`
//! as a publisher, exactly as hftbacktest's `IceoryxBuilder` does for a bot, and holds them
//! until SIGTERM/SIGINT. The console counts it as an attached bot. Usage: `sim-bot <NAME>`.

use std::time::Duration;

use iceoryx2::prelude::*;
use switchboard::engine::hftbacktest::{self as wire, CustomHeader};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() != 2 {
        eprintln!("Usage: sim-bot <NAME>");
        std::process::exit(2);
    }
    if let Err(e) = run(&args[1]) {
        eprintln!("sim-bot: {e}");
        std::process::exit(1);
    }
}

fn run(name: &str) -> Result<(), String> {
    let (buffer_size, max_bots) = (wire::DEFAULT_BUFFER_SIZE, wire::DEFAULT_MAX_BOTS);
    let (buffer_size, max_bots) = std::env::var("HFTBACKTEST_CHANNEL_CONFIG")
        .ok()
        .and_then(|f| std::fs::read_to_string(f).ok())
        .and_then(|t| t.parse::<toml::Table>().ok())
        .map(|t| {
            let get = |k: &str, d: usize| {
                t.get(k)
                    .and_then(|v| v.as_integer())
                    .map(|v| v as usize)
                    .unwrap_or(d)
            };
            (get("buffer_size", buffer_size), get("max_bots", max_bots))
        })
        .unwrap_or((buffer_size, max_bots));
    let e = |e: &dyn std::fmt::Debug| format!("{e:?}");
    let sub_node = NodeBuilder::new()
        .create::<ipc::Service>()
        .map_err(|x| e(&x))?;
    let to_bot = sub_node
        .service_builder(&ServiceName::new(&wire::to_bot(name)).map_err(|x| e(&x))?)
        .publish_subscribe::<[u8]>()
        .subscriber_max_buffer_size(buffer_size)
        .max_publishers(1)
        .max_subscribers(max_bots)
        .user_header::<CustomHeader>()
        .open_or_create()
        .map_err(|x| e(&x))?;
    let subscriber = to_bot.subscriber_builder().create().map_err(|x| e(&x))?;
    let pub_node = NodeBuilder::new()
        .create::<ipc::Service>()
        .map_err(|x| e(&x))?;
    let from_bot = pub_node
        .service_builder(&ServiceName::new(&wire::from_bot(name)).map_err(|x| e(&x))?)
        .publish_subscribe::<[u8]>()
        .subscriber_max_buffer_size(buffer_size)
        .max_publishers(max_bots)
        .max_subscribers(1)
        .user_header::<CustomHeader>()
        .open_or_create()
        .map_err(|x| e(&x))?;
    let _publisher = from_bot
        .publisher_builder()
        .initial_max_slice_len(wire::MAX_PAYLOAD_SIZE)
        .create()
        .map_err(|x| e(&x))?;
    println!("sim-bot attached to {name}");
    // node.wait returns an error on SIGTERM/SIGINT (iceoryx2's own handler): then we leave
    // cleanly, removing our nodes.
    while sub_node.wait(Duration::from_millis(100)).is_ok() {
        while let Ok(Some(_)) = subscriber.receive() {}
    }
    Ok(())
}
