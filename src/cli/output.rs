//! The event timeline: one line per event, human-readable or one JSON object per line.

use std::io::Write;
use std::time::Instant;

use serde_json::{json, Map, Value};

/// Prints timestamped lines relative to a common start, so two peers' events interleave on
/// one clock.
#[derive(Clone, Copy, Debug)]
pub struct Timeline {
    start: Instant,
    json: bool,
}

impl Timeline {
    /// A timeline starting now.
    pub fn new(json: bool) -> Self {
        Self {
            start: Instant::now(),
            json,
        }
    }

    /// Milliseconds since the start.
    pub fn ms(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.start).as_secs_f64() * 1e3
    }

    /// One event of `peer`: `detail` for humans, `fields` in JSON.
    pub fn event(&self, peer: &str, event: &str, detail: &str, fields: Value) {
        let t = self.ms(Instant::now());
        if self.json {
            let mut obj = Map::new();
            obj.insert("t_ms".into(), json!((t * 1000.0).round() / 1000.0));
            obj.insert("peer".into(), json!(peer));
            obj.insert("event".into(), json!(event));
            if let Value::Object(extra) = fields {
                obj.extend(extra);
            }
            self.print(&Value::Object(obj).to_string());
        } else {
            self.print(&format!("{t:>9.3} ms  {peer:<7} {event:<28} {detail}"));
        }
    }

    /// A line without a peer: listening addresses, summaries.
    pub fn info(&self, text: &str, fields: Value) {
        if self.json {
            self.print(&fields.to_string());
        } else {
            self.print(text);
        }
    }

    fn print(&self, line: &str) {
        // A closed stdout (`floe demo | head`) is not worth a panic.
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    }
}
