//! Deployment files that cannot go stale: the pop.yaml files the Terraform core module renders
//! (terraform/modules/warren-pop-config, run with the real `terraform`) and every example config
//! under deploy/ pass the real binary's `warren pop --check`, `warren start --check` and
//! `warren policy validate`; the systemd units keep their hardening.
//!
//! Example configs keep the files a PoP needs at start under `/etc/warren/` (secret, admin token,
//! policy, mmdb), so the test moves them into a scratch directory and creates them there.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};
use std::process::{Command, Output};

use warren_test_support::TestDir;

const BIN: &str = env!("CARGO_BIN_EXE_warren");

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().expect("repository root")
}

fn warren(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("WARREN_ADMIN_TOKEN")
        .env_remove("WARREN_AUTHTOKEN")
        .env_remove("WARREN_SERVER_ADDR")
        .output()
        .expect("warren runs")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn check_pop(path: &Path) -> Output {
    warren(&["pop", "--config", path.to_str().unwrap(), "--check"])
}

/// The keys of pop.yaml naming files that `--check` requires to exist.
const NEEDED_FILES: [&str; 4] = ["secret_file", "admin_token_file", "global_policy_file", "mmdb"];

/// `key: value` lines of a YAML file (any indentation), value without quotes and comments.
fn scalar_values<'a>(src: &'a str, key: &str) -> Vec<&'a str> {
    src.lines()
        .filter_map(|l| l.trim_start().strip_prefix(key)?.strip_prefix(':'))
        .map(|v| v.split(" #").next().unwrap_or("").trim().trim_matches('"'))
        .filter(|v| !v.is_empty())
        .collect()
}

/// `terraform` on PATH (or `$WARREN_TERRAFORM`), if installed.
fn terraform() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("WARREN_TERRAFORM") {
        return Some(PathBuf::from(p));
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|d| d.join("terraform")).find(|p| p.is_file())
}

fn run_terraform(tf: &Path, dir: &Path, args: &[&str]) -> String {
    let out = Command::new(tf)
        .arg(format!("-chdir={}", dir.display()))
        .args(args)
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .env("TF_CLI_CONFIG_FILE", "/dev/null")
        .env_remove("TF_DATA_DIR")
        .output()
        .expect("terraform runs");
    assert!(
        out.status.success(),
        "terraform {}: {}\n{}\n{}",
        args.join(" "),
        out.status,
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stdout)
}

/// `to` relative to `from` (both absolute): Terraform takes a local module only as `../…`, and
/// only a local module may reach deploy/systemd beside it.
fn relative(from: &Path, to: &Path) -> String {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut rel: Vec<String> = vec!["..".into(); from.len() - common];
    rel.extend(to[common..].iter().map(|c| c.as_os_str().to_string_lossy().into_owned()));
    rel.join("/")
}

#[test]
fn the_core_module_renders_pop_yaml_files_that_pass_check() {
    let Some(tf) = terraform() else {
        println!(
            "SKIPPED: terraform is not installed (CI installs it: .ci/install-packages); the rendered pop.yaml files were not checked"
        );
        eprintln!("SKIPPED: terraform is not installed; the rendered pop.yaml files were not checked");
        return;
    };
    let dir = TestDir::new().unwrap();
    let work = dir.path().canonicalize().unwrap();
    let module = relative(&work, &root().join("terraform/modules/warren-pop-config"));
    let etc = work.join("etc");
    let prod_etc = work.join("prod-etc");
    // Two worlds: three loopback PoPs with a policy and geo table, and a production-shaped
    // cluster (public ports, IPv6, a certificate, DNS names as cluster addresses, cloud-init).
    dir.write(
        "main.tf",
        format!(
            r#"
module "local" {{
  source        = "{module}"
  zone          = "edge.test"
  bootstrap_pop = "pop-a"
  pops = [
    {{ id = "pop-a", region = "here", lat = 50.11, lon = 8.68, public_ipv4 = "127.0.0.21", cluster_address = "127.0.0.21", bind_address = "127.0.0.21", admin_address = "127.0.0.21", data_dir = "{work}/a" }},
    {{ id = "pop-b", lat = 39.04, lon = -77.49, public_ipv4 = "127.0.0.22", cluster_address = "127.0.0.22", bind_address = "127.0.0.22", admin_address = "127.0.0.22", data_dir = "{work}/b" }},
    {{ id = "pop-c", lat = 1.35, lon = 103.82, public_ipv4 = "127.0.0.23", cluster_address = "localhost", bind_address = "127.0.0.23", admin_address = "127.0.0.23", data_dir = "{work}/c" }},
  ]
  ports         = {{ http = 18080, https = 18443, tunnel = 14443, cluster = 17443, dns = 15353, admin = 19090 }}
  tcp_ports     = "21000-21009"
  config_dir    = "{etc}"
  geo_networks  = [{{ cidr = "192.0.2.0/24", lat = 48.86, lon = 2.35 }}]
  global_policy = "on_http_request: []\n"
  health        = {{ interval_ms = 500, fall = 2 }}
  dns_ttl       = 10
}}

module "prod" {{
  source        = "{module}"
  zone          = "edge.example.com"
  bootstrap_pop = "pop-iad"
  pops = [
    {{ id = "pop-fra", region = "eu-central", lat = 50.11, lon = 8.68, public_ipv4 = "203.0.113.10", public_ipv6 = "2001:db8::10", cluster_address = "pop-fra.internal.example", bind_address = "::" }},
    {{ id = "pop-iad", region = "us-east", lat = 39.04, lon = -77.49, public_ipv4 = "203.0.113.20", cluster_address = "2001:db8:1::20" }},
  ]
  config_dir         = "{prod_etc}"
  tls                = {{ cert_file = "/etc/warren/tls/fullchain.pem", key_file = "/etc/warren/tls/key.pem" }}
  warren_binary_path = "/usr/local/bin/warren"
  cluster_secret     = "0123456789abcdef0123456789abcdef"
  admin_token        = "fedcba9876543210fedcba9876543210"
}}

output "local" {{
  value = module.local.pop_yaml
}}

output "prod" {{
  value = module.prod.pop_yaml
}}

output "prod_user_data" {{
  value     = module.prod.user_data
  sensitive = true
}}
"#,
            work = work.display(),
            etc = etc.display(),
            prod_etc = prod_etc.display(),
        ),
    );
    run_terraform(&tf, &work, &["init", "-input=false", "-no-color"]);
    run_terraform(&tf, &work, &["apply", "-auto-approve", "-input=false", "-no-color"]);
    let outputs: BTreeMap<String, serde_json::Value> =
        serde_json::from_str(&run_terraform(&tf, &work, &["output", "-json", "-no-color"])).unwrap();

    let mut checked = Vec::new();
    for world in ["local", "prod"] {
        let files = outputs[world]["value"].as_object().unwrap_or_else(|| panic!("output {world}: {outputs:?}"));
        for (id, yaml) in files {
            let yaml = yaml.as_str().unwrap();
            let path = dir.write(format!("rendered/{world}/{id}.yaml"), yaml);
            if world == "local" && id == "pop-a" {
                // Without its files the config must not pass: the check below is a real one.
                let out = check_pop(&path);
                assert_eq!(out.status.code(), Some(1), "{}", text(&out.stdout));
                assert!(text(&out.stderr).contains("does not exist"), "{}", text(&out.stderr));
            }
            for key in NEEDED_FILES {
                for file in scalar_values(yaml, key) {
                    assert!(
                        file.starts_with(work.to_str().unwrap()),
                        "{world}/{id}: {key} {file} outside the scratch dir"
                    );
                    std::fs::create_dir_all(Path::new(file).parent().unwrap()).unwrap();
                    std::fs::write(file, "on_http_request: []\n").unwrap();
                }
            }
            let out = check_pop(&path);
            assert!(out.status.success(), "{world}/{id}:\n{yaml}\n{}", text(&out.stderr));
            assert!(text(&out.stdout).contains(&format!("ok (pop {id}, zone ")), "{}", text(&out.stdout));
            checked.push(format!("{world}/{id}"));
        }
    }
    assert_eq!(checked, ["local/pop-a", "local/pop-b", "local/pop-c", "prod/pop-fra", "prod/pop-iad"]);

    // The rendered files say what the inputs said.
    let a = outputs["local"]["value"]["pop-a"].as_str().unwrap();
    for line in [
        "id: \"pop-a\"",
        "  admin: \"127.0.0.21:19090\"",
        "  bootstrap: true",
        "    \"pop-c\": \"localhost:17443\"",
        "    - { cidr: \"192.0.2.0/24\", lat: 48.86, lon: 2.35 }",
        "health: { interval_ms: 500, fall: 2, rise: 2 }",
        "dns: { ttl: 10 }",
    ] {
        assert!(a.lines().any(|l| l == line), "{line:?} missing from:\n{a}");
    }
    let iad = outputs["prod"]["value"]["pop-iad"].as_str().unwrap();
    assert!(iad.contains("    \"pop-iad\": \"[2001:db8:1::20]:7443\"\n"), "{iad}");
    assert!(iad.contains("  https: \"0.0.0.0:443\"\n") && iad.contains("  cert: \"/etc/warren/tls/fullchain.pem\"\n"));
    let fra = outputs["prod"]["value"]["pop-fra"].as_str().unwrap();
    assert!(fra.contains("  dns: \"[::]:53\"\n") && fra.contains("public_ipv6: \"2001:db8::10\"\n"), "{fra}");
    // cloud-init carries exactly this pop.yaml (base64), so the machine runs what was checked.
    let user_data = outputs["prod_user_data"]["value"]["pop-iad"].as_str().unwrap();
    assert!(user_data.starts_with("#cloud-config\n"), "{user_data}");
    assert!(user_data.contains(&format!("  - path: {}/pop.yaml\n", prod_etc.display())), "{user_data}");
}

/// What an example YAML under deploy/ is, from its top-level keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Kind {
    Pop,
    Agent,
    Policy,
    Kubernetes,
    Compose,
}

fn kind(src: &str) -> Option<Kind> {
    let top = |k: &str| src.lines().any(|l| l.starts_with(&format!("{k}:")));
    if top("apiVersion") {
        Some(Kind::Kubernetes)
    } else if top("services") {
        Some(Kind::Compose)
    } else if top("listen") && top("zone") {
        Some(Kind::Pop)
    } else if top("endpoints") || top("agent") {
        Some(Kind::Agent)
    } else if top("on_http_request") || top("on_http_response") || top("on_tcp_connect") {
        Some(Kind::Policy)
    } else {
        None
    }
}

fn yaml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            yaml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
            out.push(path);
        }
    }
}

#[test]
fn every_example_config_under_deploy_passes_check() {
    let deploy = root().join("deploy");
    let mut files = Vec::new();
    yaml_files(&deploy, &mut files);
    files.sort();
    let scratch = TestDir::new().unwrap();
    let mut seen: BTreeMap<Kind, Vec<String>> = BTreeMap::new();
    let mut failures = Vec::new();
    for (i, path) in files.iter().enumerate() {
        let rel = path.strip_prefix(&deploy).unwrap().display().to_string();
        let src = std::fs::read_to_string(path).unwrap();
        let kind =
            kind(&src).unwrap_or_else(|| panic!("deploy/{rel}: not a PoP, agent, policy, Kubernetes or compose file"));
        seen.entry(kind).or_default().push(rel.clone());
        let out = match kind {
            Kind::Pop => {
                // Files under /etc/warren/ move to the scratch dir, where the test creates them.
                let etc = scratch.path().join(format!("{i}/etc/warren/"));
                let moved = src.replace("/etc/warren/", etc.to_str().unwrap());
                for key in NEEDED_FILES {
                    for file in scalar_values(&moved, key) {
                        if !file.starts_with(etc.to_str().unwrap()) {
                            failures.push(format!("deploy/{rel}: {key} {file} is not under /etc/warren/"));
                            continue;
                        }
                        scratch.write(Path::new(file).strip_prefix(scratch.path()).unwrap(), "x\n");
                    }
                }
                check_pop(&scratch.write(format!("{i}/pop.yaml"), moved))
            }
            Kind::Agent => warren(&["start", "--config", path.to_str().unwrap(), "--check"]),
            Kind::Policy => warren(&["policy", "validate", path.to_str().unwrap()]),
            Kind::Kubernetes | Kind::Compose => continue,
        };
        if !out.status.success() {
            failures.push(format!("deploy/{rel} ({kind:?}): {}{}", text(&out.stdout), text(&out.stderr)));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let count = |k: Kind| seen.get(&k).map_or(0, Vec::len);
    // systemd 1 + compose 3 + kubernetes 3 PoPs; an agent and a policy each for systemd, compose, kubernetes.
    assert!(count(Kind::Pop) >= 7, "{seen:?}");
    assert!(count(Kind::Agent) >= 3, "{seen:?}");
    assert!(count(Kind::Policy) >= 3, "{seen:?}");
    assert!(count(Kind::Kubernetes) >= 5, "{seen:?}");
    assert_eq!(count(Kind::Compose), 1, "{seen:?}");
}

/// Files that compose mounts and kustomize bundles exist beside them (a renamed example would
/// otherwise break `docker compose up` or `kubectl apply -k` without any check noticing).
#[test]
fn compose_mounts_and_kustomize_files_exist() {
    let deploy = root().join("deploy");
    let compose = std::fs::read_to_string(deploy.join("compose/docker-compose.yaml")).unwrap();
    let mounts: Vec<&str> = compose
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("- ./"))
        .map(|m| m.split(':').next().unwrap())
        .collect();
    assert!(mounts.len() >= 5, "{mounts:?}");
    for m in &mounts {
        assert!(deploy.join("compose").join(m).is_file(), "deploy/compose/{m} is mounted but missing");
    }
    for pop in ["pop-a", "pop-b", "pop-c"] {
        assert!(mounts.contains(&format!("{pop}.yaml").as_str()), "{pop}.yaml not mounted");
    }
    let kustomization = std::fs::read_to_string(deploy.join("kubernetes/kustomization.yaml")).unwrap();
    let listed: Vec<&str> = kustomization
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("- "))
        .filter(|f| f.ends_with(".yaml"))
        .collect();
    assert!(listed.len() >= 9, "{listed:?}");
    for f in &listed {
        assert!(deploy.join("kubernetes").join(f).is_file(), "deploy/kubernetes/{f} is listed but missing");
    }
    let statefulset = std::fs::read_to_string(deploy.join("kubernetes/pop-statefulset.yaml")).unwrap();
    assert!(statefulset.contains("replicas: 3"));
    for i in 0..3 {
        assert!(listed.contains(&format!("config/warren-pop-{i}.yaml").as_str()), "warren-pop-{i}'s config");
    }
}

#[test]
fn the_systemd_units_are_hardened() {
    let units = root().join("deploy/systemd");
    for (unit, caps) in [("warren-pop.service", "CAP_NET_BIND_SERVICE"), ("warren-agent.service", "")] {
        let src = std::fs::read_to_string(units.join(unit)).unwrap();
        for line in [
            "User=warren".to_owned(),
            "NoNewPrivileges=yes".to_owned(),
            "ProtectSystem=strict".to_owned(),
            "ProtectHome=yes".to_owned(),
            "PrivateTmp=yes".to_owned(),
            "Restart=on-failure".to_owned(),
            format!("AmbientCapabilities={caps}"),
            format!("CapabilityBoundingSet={caps}"),
        ] {
            assert!(src.lines().any(|l| l == line), "{unit}: {line:?} missing");
        }
        assert!(src.lines().any(|l| l.starts_with("LimitNOFILE=")), "{unit}: LimitNOFILE");
        assert!(src.lines().any(|l| l.starts_with("ReadWritePaths=/var/lib/")), "{unit}: ReadWritePaths");
        assert!(src.lines().any(|l| l.starts_with("ExecStartPre=/usr/local/bin/warren ") && l.ends_with(" --check")));
    }
}
