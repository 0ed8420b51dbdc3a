//! Logging set-up: `--log-format text|json` and `--log-level`, always to stderr so that stdout
//! stays for what a command prints on purpose (tokens, `endpoint online`, listener lines).

use anyhow::Context;
use tracing_subscriber::EnvFilter;

use crate::cli::LogFormat;

pub(crate) fn init(format: LogFormat, level: &str) -> anyhow::Result<()> {
    // hickory logs every query at INFO, openraft every vote and membership step: noise at an
    // edge answering thousands of queries a second. Name them explicitly to see them.
    let directives = if level.contains('=') {
        level.to_owned()
    } else {
        format!("{level},hickory_server=warn,hickory_proto=warn,openraft=warn")
    };
    let filter =
        EnvFilter::try_new(&directives).with_context(|| format!("--log-level {level:?} is not a valid filter"))?;
    // Colours only for a person at a terminal, never into files or pipes.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_ansi(ansi);
    match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).try_init(),
    }
    .map_err(|e| anyhow::anyhow!("cannot install the logger: {e}"))
}
