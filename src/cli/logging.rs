//! `floe -v` / `-vv` / `-vvv` and `RUST_LOG`: what the sans-IO crates log through `tracing`
//! (candidates, checks, pairs, roles, consent, TURN transactions, mDNS lookups), printed.
//!
//! Without either, no subscriber is installed and the crates' events cost a relaxed atomic load
//! each. `-v` shows the `info` events of the floe crates (what changes state), `-vv` adds the
//! `debug` ones (every check and TURN request), `-vvv` the `trace` ones; `RUST_LOG` directives
//! (`floe_ice=debug`, `floe_turn=trace`, …) come on top and win where they are more specific.
//!
//! Human output goes to stderr, stamped with milliseconds like the event timeline on stdout.
//! With `--json` every log line is a JSON object on stdout, among the timeline's event lines,
//! so that every line of stdout parses: `{"t_ms": …, "event": "log", "level": "debug",
//! "target": "floe_ice::checks", "message": "check sent", "pair": 1, …}`, with the fields
//! named as floe-ice's documentation lists them.

use std::fmt;
use std::io::Write;
use std::time::Instant;

use serde_json::{json, Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::time::FormatTime;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::EnvFilter;

/// Turns address redaction on or off, and installs the subscriber that `verbose` (the number
/// of `-v`) and `RUST_LOG` ask for, if any.
pub fn init(verbose: u8, json: bool, redact: bool) {
    floe_ice::set_redact_addresses(redact);
    let base = match verbose {
        0 => None,
        1 => Some("floe=info"),
        2 => Some("floe=debug"),
        _ => Some("floe=trace"),
    };
    let env = std::env::var("RUST_LOG")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let directives = match (base, env) {
        (None, None) => return,
        (Some(base), None) => base.to_owned(),
        (None, Some(env)) => env,
        (Some(base), Some(env)) => format!("{base},{env}"),
    };
    let filter = EnvFilter::builder().parse_lossy(directives);
    let start = Instant::now();
    let installed = if json {
        let subscriber =
            tracing_subscriber::registry().with(JsonLines { start }.with_filter(filter));
        tracing::subscriber::set_global_default(subscriber)
    } else {
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr)
            .with_timer(Millis(start))
            .finish();
        tracing::subscriber::set_global_default(subscriber)
    };
    if let Err(e) = installed {
        eprintln!("floe: cannot install the log subscriber: {e}");
    }
}

/// Milliseconds since start, as the event timeline prints them.
struct Millis(Instant);

impl FormatTime for Millis {
    fn format_time(&self, w: &mut Writer<'_>) -> fmt::Result {
        write!(w, "{:>9.3} ms", ms_since(self.0))
    }
}

fn ms_since(start: Instant) -> f64 {
    (start.elapsed().as_secs_f64() * 1e6).round() / 1e3
}

/// Each event as one JSON object on stdout.
struct JsonLines {
    start: Instant,
}

impl<S: Subscriber> Layer<S> for JsonLines {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let meta = event.metadata();
        let mut obj = Map::new();
        obj.insert("t_ms".into(), json!(ms_since(self.start)));
        obj.insert("event".into(), json!("log"));
        obj.insert(
            "level".into(),
            json!(meta.level().as_str().to_ascii_lowercase()),
        );
        obj.insert("target".into(), json!(meta.target()));
        event.record(&mut Fields(&mut obj));
        let line = Value::Object(obj).to_string();
        // One locked write per line, so lines never interleave with the timeline's; a closed
        // stdout is not worth a panic.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}

/// Collects an event's fields into the object; the fixed keys above are kept.
struct Fields<'a>(&'a mut Map<String, Value>);

impl Fields<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        self.0.entry(field.name()).or_insert(value);
    }
}

impl Visit for Fields<'_> {
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, json!(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, json!(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, json!(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, json!(value));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, json!(value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `%value` fields arrive here too, formatted with their Display.
        self.put(field, json!(format!("{value:?}")));
    }
}
