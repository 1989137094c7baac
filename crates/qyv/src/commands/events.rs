//! `qyv events [APP]`: what happened on a node, oldest first.

use anyhow::Result;

use crate::cli::EventsArgs;
use crate::remote::{connect, print_json};

pub fn events(args: EventsArgs) -> Result<i32> {
    let client = connect(&args.node, None)?;
    let events = client.events(args.app.as_deref(), 0, args.tail.max(1))?;
    if args.json {
        print_json(&events)?;
        return Ok(0);
    }
    for e in &events {
        let rev = e.revision.map_or(String::new(), |r| format!(" r{r}"));
        println!("{}  {}{rev}  {}: {}", e.time, e.app, e.kind, e.message);
    }
    Ok(0)
}
