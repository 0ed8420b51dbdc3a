//! `warren pop`: run or check a Point of Presence.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use warren_config::PopConfig;

/// Reads and validates `pop.yaml`; prints `file:line:column: field: reason` on the first error.
pub(crate) fn load(path: &Path) -> anyhow::Result<Result<PopConfig, warren_config::ConfigError>> {
    let src = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(PopConfig::parse(&src, &path.display().to_string()))
}

pub(crate) fn check(path: &Path) -> anyhow::Result<ExitCode> {
    match load(path)? {
        Ok(cfg) => {
            // Files the PoP will need at start must exist now, or --check would pass a config
            // that cannot start.
            let needed = [
                ("admin_token_file", &cfg.admin_token_file),
                ("cluster.secret_file", &cfg.secret_file),
                ("global_policy_file", &cfg.global_policy_file),
                ("geo.mmdb", &cfg.geo.mmdb),
            ];
            for (field, file) in needed {
                if let Some(f) = file
                    && !f.is_file()
                {
                    eprintln!("{}: {field}: {} does not exist or is not a file", path.display(), f.display());
                    return Ok(ExitCode::FAILURE);
                }
            }
            println!("{}: ok (pop {}, zone {})", path.display(), cfg.id, cfg.zone);
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            Ok(ExitCode::FAILURE)
        }
    }
}

/// `warren pop --config FILE`: runs until SIGINT/SIGTERM, then drains.
pub(crate) fn run(path: &Path) -> anyhow::Result<ExitCode> {
    let cfg = match load(path)? {
        Ok(cfg) => cfg,
        Err(e) => {
            eprintln!("{e}");
            return Ok(ExitCode::FAILURE);
        }
    };
    let admin_token = admin_token(&cfg)?;
    let rt = tokio::runtime::Runtime::new().context("cannot start the async runtime")?;
    rt.block_on(async {
        let pop = warren_pop::Pop::start(cfg, admin_token).await?;
        for (name, addr) in pop.bound.listeners() {
            println!("listening name={name} addr={addr}");
        }
        if let Some(ca) = &pop.dev_ca {
            println!("dev CA: {} (agents: --ca-file {})", ca.display(), ca.display());
        }
        crate::signals::terminated().await;
        pop.shutdown(std::time::Duration::from_secs(10)).await;
        Ok(ExitCode::SUCCESS)
    })
}

/// The admin token: `admin_token_file`, else env `WARREN_ADMIN_TOKEN`, else one made on first
/// start and kept in `data_dir/admin.token` (owner-only), so the admin API is never open.
fn admin_token(cfg: &PopConfig) -> anyhow::Result<String> {
    if let Some(file) = &cfg.admin_token_file {
        let t = std::fs::read_to_string(file)
            .with_context(|| format!("cannot read admin_token_file {}", file.display()))?;
        let t = t.trim().to_owned();
        anyhow::ensure!(!t.is_empty(), "admin_token_file {} is empty", file.display());
        return Ok(t);
    }
    if let Ok(t) = std::env::var("WARREN_ADMIN_TOKEN")
        && !t.trim().is_empty()
    {
        return Ok(t.trim().to_owned());
    }
    let path = cfg.data_dir.join("admin.token");
    if let Ok(t) = std::fs::read_to_string(&path)
        && !t.trim().is_empty()
    {
        eprintln!("warren pop: admin token from {}", path.display());
        return Ok(t.trim().to_owned());
    }
    std::fs::create_dir_all(&cfg.data_dir).with_context(|| format!("cannot create {}", cfg.data_dir.display()))?;
    let token = format!("wra_{:016x}{:016x}", rand_u64(), rand_u64());
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot write {}", path.display()))?;
        f.write_all(token.as_bytes())?;
    }
    eprintln!("warren pop: no admin token configured; made one in {} (use it with --token)", path.display());
    Ok(token)
}

fn rand_u64() -> u64 {
    rand::random()
}
