//! A tiny global `metrics` recorder with a Prometheus-like render, standing in for the PoP's.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use metrics::{Counter, CounterFn, Gauge, Histogram, Key, KeyName, Metadata, Recorder, SharedString, Unit};

pub const HEADER: &str = "# test recorder\n";

#[derive(Clone, Default)]
struct TestRecorder(Arc<Mutex<BTreeMap<String, Arc<Count>>>>);

#[derive(Default)]
struct Count(AtomicU64);

impl CounterFn for Count {
    fn increment(&self, value: u64) {
        self.0.fetch_add(value, Ordering::Relaxed);
    }
    fn absolute(&self, value: u64) {
        self.0.fetch_max(value, Ordering::Relaxed);
    }
}

impl Recorder for TestRecorder {
    fn describe_counter(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_gauge(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}
    fn describe_histogram(&self, _: KeyName, _: Option<Unit>, _: SharedString) {}

    fn register_counter(&self, key: &Key, _: &Metadata<'_>) -> Counter {
        let labels: Vec<String> = key.labels().map(|l| format!("{}=\"{}\"", l.key(), l.value())).collect();
        let name = format!("{}{{{}}}", key.name(), labels.join(","));
        let count = Arc::clone(self.0.lock().unwrap().entry(name).or_default());
        Counter::from_arc(count)
    }

    fn register_gauge(&self, _: &Key, _: &Metadata<'_>) -> Gauge {
        Gauge::noop()
    }

    fn register_histogram(&self, _: &Key, _: &Metadata<'_>) -> Histogram {
        Histogram::noop()
    }
}

fn recorder() -> &'static TestRecorder {
    static RECORDER: OnceLock<TestRecorder> = OnceLock::new();
    RECORDER.get_or_init(|| {
        let recorder = TestRecorder::default();
        // Several tests may share a process (plain `cargo test`): only the first installs.
        let _ = metrics::set_global_recorder(recorder.clone());
        recorder
    })
}

/// Installs the recorder (first call) and renders every counter, one `name{labels} value` per line.
pub fn render() -> String {
    let mut out = HEADER.to_owned();
    for (name, count) in recorder().0.lock().unwrap().iter() {
        out.push_str(&format!("{name} {}\n", count.0.load(Ordering::Relaxed)));
    }
    out
}

/// Makes sure the recorder is installed before the first request is counted.
pub fn install() {
    recorder();
}
