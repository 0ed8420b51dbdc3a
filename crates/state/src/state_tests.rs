use super::*;
use crate::{TokenSecret, new_token};

fn random(seed: u8) -> [u8; 40] {
    let mut r = [0u8; 40];
    for (i, b) in r.iter_mut().enumerate() {
        *b = seed.wrapping_mul(31).wrapping_add(i as u8);
    }
    r
}

fn create(seed: u8, description: &str, at: u64) -> (Command, TokenId, TokenSecret) {
    let (id, secret) = new_token(random(seed));
    let cmd = Command::CreateToken {
        id: id.clone(),
        secret_hash: secret.hash(),
        description: description.to_owned(),
        created_at_ms: at,
    };
    (cmd, id, secret)
}

/// A little history touching every command and a rejection or two.
fn history() -> (Vec<Command>, Vec<TokenSecret>) {
    let (c1, id1, s1) = create(1, "laptop", 1_000);
    let (c2, _, s2) = create(2, "ci", 2_000);
    let cmds = vec![
        c1.clone(),
        c2,
        Command::SetGlobalPolicy { text: "on_http_request: []\n".into(), version: 1 },
        Command::RevokeToken { id: id1 },
        c1,
        Command::SetGlobalPolicy { text: "stale".into(), version: 1 },
        Command::SetGlobalPolicy { text: "on_http_response: []\n".into(), version: 2 },
    ];
    (cmds, vec![s1, s2])
}

fn run(cmds: &[Command]) -> (State, Vec<Outcome>) {
    let mut state = State::new();
    let outcomes = cmds.iter().enumerate().map(|(i, c)| state.apply(c.clone(), 10_000 + i as u64)).collect();
    (state, outcomes)
}

#[test]
fn create_authenticate_revoke() {
    let mut state = State::new();
    let (cmd, id, secret) = create(7, "laptop", 1_000);
    assert_eq!(state.apply(cmd, 1_000), Outcome::TokenCreated { id: id.clone() });
    assert_eq!(state.authenticate(secret.expose()), Ok(id.clone()));

    assert_eq!(state.apply(Command::RevokeToken { id: id.clone() }, 5_000), Outcome::TokenRevoked { id: id.clone() });
    assert_eq!(state.authenticate(secret.expose()), Err(AuthError::Revoked { id: id.clone() }));
    // Revoking again converges and keeps the first revocation time.
    assert_eq!(state.apply(Command::RevokeToken { id: id.clone() }, 9_000), Outcome::TokenRevoked { id: id.clone() });
    let info = state.token(&id).unwrap();
    assert!(info.revoked);
    assert_eq!(info.revoked_at_ms, Some(5_000));
    assert_eq!(info.created_at_ms, 1_000);
}

#[test]
fn unknown_and_revoked_are_distinguished() {
    let (cmds, secrets) = history();
    let (state, _) = run(&cmds);
    assert!(matches!(state.authenticate(secrets[0].expose()), Err(AuthError::Revoked { .. })));
    assert!(state.authenticate(secrets[1].expose()).is_ok());
    assert_eq!(state.authenticate("wrn_nope"), Err(AuthError::Unknown));
    assert_eq!(state.authenticate(""), Err(AuthError::Unknown));
    // A secret differing in one character is unknown, not revoked.
    let mut near = secrets[0].expose().to_owned();
    near.pop();
    assert_eq!(state.authenticate(&near), Err(AuthError::Unknown));
}

#[test]
fn rejections_leave_state_unchanged() {
    let mut state = State::new();
    let (cmd, id, secret) = create(3, "a", 1);
    state.apply(cmd.clone(), 1);
    let before = state.clone();
    assert_eq!(state.apply(cmd, 2), Outcome::Rejected(Rejection::TokenIdExists { id: id.clone() }));
    let (_, other_id, _) = create(4, "b", 1);
    let same_hash =
        Command::CreateToken { id: other_id, secret_hash: secret.hash(), description: "b".into(), created_at_ms: 3 };
    assert_eq!(state.apply(same_hash, 3), Outcome::Rejected(Rejection::SecretHashExists { existing: id }));
    let unknown = TokenId::parse("tok_ffffffffffffffff").unwrap();
    assert_eq!(
        state.apply(Command::RevokeToken { id: unknown.clone() }, 4),
        Outcome::Rejected(Rejection::UnknownToken { id: unknown })
    );
    assert_eq!(
        state.apply(Command::SetGlobalPolicy { text: "x".into(), version: 2 }, 5),
        Outcome::Rejected(Rejection::PolicyVersion { current: 0, proposed: 2 })
    );
    assert_eq!(state, before);
}

#[test]
fn policy_versions_grow_by_one() {
    let mut state = State::new();
    assert_eq!(state.policy_version(), 0);
    assert!(state.global_policy().is_none());
    for v in 1..=3 {
        let cmd = Command::SetGlobalPolicy { text: format!("v{v}"), version: state.next_policy_version() };
        assert_eq!(state.apply(cmd, v * 100), Outcome::PolicySet { version: v });
    }
    let p = state.global_policy().unwrap();
    assert_eq!((p.text.as_str(), p.version, p.updated_at_ms), ("v3", 3, 300));
}

#[test]
fn apply_is_deterministic() {
    let (cmds, _) = history();
    let (a, outcomes_a) = run(&cmds);
    let (b, outcomes_b) = run(&cmds);
    assert_eq!(a, b);
    assert_eq!(outcomes_a, outcomes_b);
    // The commands themselves survive the log's serialisation unchanged.
    let json = serde_json::to_string(&cmds).unwrap();
    let decoded: Vec<Command> = serde_json::from_str(&json).unwrap();
    assert_eq!(run(&decoded).0, a);
    assert_eq!(serde_json::to_string(&a.snapshot()).unwrap(), serde_json::to_string(&b.snapshot()).unwrap());
}

#[test]
fn snapshot_restore_round_trip() {
    let (cmds, secrets) = history();
    let (state, _) = run(&cmds);
    let json = serde_json::to_string(&state.snapshot()).unwrap();
    let restored = State::restore(serde_json::from_str(&json).unwrap()).unwrap();
    assert_eq!(restored, state);
    // The rebuilt index authenticates exactly as before.
    for s in &secrets {
        assert_eq!(restored.authenticate(s.expose()), state.authenticate(s.expose()));
    }
    // And the restored state keeps applying identically.
    let (mut x, mut y) = (state, restored);
    let (cmd, _, _) = create(9, "later", 50);
    assert_eq!(x.apply(cmd.clone(), 50), y.apply(cmd, 50));
    assert_eq!(x, y);
}

#[test]
fn restore_refuses_impossible_snapshots() {
    let (cmds, _) = history();
    let (state, _) = run(&cmds);
    let mut snap = state.snapshot();
    snap.format = 99;
    assert_eq!(State::restore(snap), Err(RestoreError::Format { found: 99, supported: 2 }));
    let mut snap = state.snapshot();
    let dup = snap.tokens[0].clone();
    snap.tokens.push(dup);
    assert!(matches!(State::restore(snap), Err(RestoreError::DuplicateTokenId { .. })));
    let mut snap = state.snapshot();
    snap.tokens[1].secret_hash = snap.tokens[0].secret_hash;
    assert!(matches!(State::restore(snap), Err(RestoreError::DuplicateSecretHash { .. })));
}

#[test]
fn secrets_never_appear_in_debug_or_listing() {
    let (cmds, secrets) = history();
    let (state, _) = run(&cmds);
    let listing = state.list_tokens();
    assert_eq!(listing.len(), 2);
    let texts = [
        format!("{state:?}"),
        format!("{listing:?}"),
        serde_json::to_string(&listing).unwrap(),
        format!("{:?}", state.snapshot()),
    ];
    for secret in &secrets {
        let body = &secret.expose()[4..];
        let full_hash = hex::encode(secret.hash().as_bytes());
        for text in &texts {
            assert!(!text.contains(body), "secret in {text}");
        }
        // The listing carries no hash at all; Debug only a 4-digit prefix.
        assert!(!texts[1].contains(&full_hash[..8]) && !texts[2].contains(&full_hash[..8]));
        assert!(!texts[0].contains(&full_hash));
    }
}

fn pop(id: &str) -> PopRecord {
    PopRecord {
        id: id.into(),
        region: "test".into(),
        lat: 1.0,
        lon: 2.0,
        public_ipv4: Some([192, 0, 2, 1].into()),
        public_ipv6: None,
        cluster_addr: "127.0.0.1:7443".into(),
        weight: 100,
        draining: false,
    }
}

fn bind(url: &str, pop: &str, incarnation: u64, agents: u32) -> Command {
    Command::SetEndpointAgents {
        url: url.into(),
        pop: pop.into(),
        incarnation,
        agents,
        policy: None,
        agent_ids: vec![],
        pooling: false,
    }
}

fn bind_agent(url: &str, pop: &str, agent: &str, pooling: bool) -> Command {
    Command::SetEndpointAgents {
        url: url.into(),
        pop: pop.into(),
        incarnation: 1,
        agents: 1,
        policy: None,
        agent_ids: vec![agent.into()],
        pooling,
    }
}

#[test]
fn a_url_held_by_one_agent_is_not_given_to_another_on_another_pop() {
    let mut s = State::new();
    for id in ["fra", "iad", "sin"] {
        s.apply(Command::UpsertPop { record: pop(id) }, 1);
        s.apply(Command::StartPop { id: id.into() }, 1);
    }
    s.apply(bind_agent("https://a.z", "fra", "agent-1", false), 2);
    // Another agent, another PoP: taken. The same agent on another PoP: its own endpoint.
    assert!(s.url_taken_elsewhere("https://a.z", "iad", "agent-2", false));
    assert!(s.url_taken_elsewhere("https://a.z", "iad", "agent-2", true), "pooling needs both sides");
    assert!(!s.url_taken_elsewhere("https://a.z", "iad", "agent-1", false));
    // On the holding PoP itself the local registry decides.
    assert!(!s.url_taken_elsewhere("https://a.z", "fra", "agent-2", false));
    assert!(!s.url_taken_elsewhere("https://b.z", "iad", "agent-2", false));

    s.apply(bind_agent("https://p.z", "fra", "agent-1", true), 2);
    assert!(!s.url_taken_elsewhere("https://p.z", "iad", "agent-2", true), "pooled on both sides");
    assert!(s.url_taken_elsewhere("https://p.z", "iad", "agent-2", false));
    // An entry written before agent ids were replicated counts as another agent's.
    s.apply(bind("https://old.z", "sin", 1, 1), 2);
    assert!(s.url_taken_elsewhere("https://old.z", "iad", "agent-1", false));
}

#[test]
fn bindings_follow_the_pops_incarnation() {
    let mut s = State::new();
    assert_eq!(
        s.apply(Command::StartPop { id: "fra".into() }, 1),
        Outcome::Rejected(Rejection::UnknownPop { id: "fra".into() })
    );
    s.apply(Command::UpsertPop { record: pop("fra") }, 1);
    s.apply(Command::UpsertPop { record: pop("iad") }, 1);
    assert_eq!(
        s.apply(Command::StartPop { id: "fra".into() }, 2),
        Outcome::PopStarted { id: "fra".into(), incarnation: 1 }
    );
    s.apply(Command::StartPop { id: "iad".into() }, 2);
    assert_eq!(
        s.apply(bind("https://a.z", "fra", 1, 2), 3),
        Outcome::EndpointBound { url: "https://a.z".into(), pop: "fra".into(), agents: 2 }
    );
    s.apply(bind("https://a.z", "iad", 1, 1), 3);
    s.apply(bind("https://b.z", "fra", 1, 1), 3);
    assert_eq!(s.holders("https://a.z"), vec![("fra", 2), ("iad", 1)]);
    assert_eq!(s.endpoint_policy("https://a.z"), None);
    let with_policy = Command::SetEndpointAgents {
        url: "https://a.z".into(),
        pop: "iad".into(),
        incarnation: 1,
        agents: 1,
        policy: Some("on_http_request: []".into()),
        agent_ids: vec![],
        pooling: false,
    };
    s.apply(with_policy, 3);
    assert_eq!(s.endpoint_policy("https://a.z"), Some("on_http_request: []"));

    // fra restarts: its old bindings go, and a late write from the old process is fenced off.
    assert_eq!(
        s.apply(Command::StartPop { id: "fra".into() }, 4),
        Outcome::PopStarted { id: "fra".into(), incarnation: 2 }
    );
    assert_eq!(s.holders("https://a.z"), vec![("iad", 1)]);
    assert!(s.holders("https://b.z").is_empty());
    assert_eq!(
        s.apply(bind("https://b.z", "fra", 1, 1), 5),
        Outcome::Rejected(Rejection::StaleIncarnation { id: "fra".into(), current: 2, proposed: 1 })
    );
    assert!(s.bindings().get("https://b.z").is_none());

    // An expiry computed against an old incarnation cannot wipe the new one's bindings.
    s.apply(bind("https://b.z", "fra", 2, 1), 6);
    assert!(matches!(
        s.apply(Command::ExpirePop { id: "fra".into(), incarnation: 1 }, 7),
        Outcome::Rejected(Rejection::StaleIncarnation { .. })
    ));
    assert_eq!(s.holders("https://b.z"), vec![("fra", 1)]);
    assert_eq!(
        s.apply(Command::ExpirePop { id: "fra".into(), incarnation: 2 }, 8),
        Outcome::PopExpired { id: "fra".into(), bindings_removed: 1 }
    );
    assert!(s.holders("https://b.z").is_empty());

    // Zero agents removes a binding; removing a PoP removes all of its own.
    s.apply(bind("https://a.z", "iad", 1, 0), 9);
    assert!(s.bindings().is_empty());
    s.apply(bind("https://c.z", "iad", 1, 3), 9);
    assert_eq!(s.apply(Command::RemovePop { id: "iad".into() }, 10), Outcome::PopRemoved { id: "iad".into() });
    assert!(s.bindings().is_empty());
    assert_eq!(s.pops().map(|p| p.record.id.as_str()).collect::<Vec<_>>(), vec!["fra"]);
}

#[test]
fn upsert_keeps_incarnation_and_updates_the_record() {
    let mut s = State::new();
    s.apply(Command::UpsertPop { record: pop("fra") }, 1);
    s.apply(Command::StartPop { id: "fra".into() }, 1);
    let mut changed = pop("fra");
    changed.draining = true;
    s.apply(Command::UpsertPop { record: changed.clone() }, 2);
    let entry = s.pop("fra").unwrap();
    assert_eq!((entry.incarnation, &entry.record), (1, &changed));
}

#[test]
fn reservations_belong_to_one_token() {
    let mut s = State::new();
    let (c1, id1, _) = create(1, "a", 1);
    let (c2, id2, _) = create(2, "b", 1);
    s.apply(c1, 1);
    s.apply(c2, 1);
    let reserve =
        |token: &TokenId| Command::ReserveUrl { url: "https://x.z".into(), token: token.clone(), created_at_ms: 5 };
    assert_eq!(s.apply(reserve(&id1), 5), Outcome::UrlReserved { url: "https://x.z".into() });
    assert_eq!(
        s.apply(reserve(&id2), 6),
        Outcome::Rejected(Rejection::UrlTaken { url: "https://x.z".into(), token: id1.clone() })
    );
    assert_eq!(s.reservation("https://x.z").map(|r| &r.token), Some(&id1));
    let ghost = TokenId::parse("tok_00000000000000ff").unwrap();
    assert!(matches!(
        s.apply(Command::ReserveUrl { url: "https://y.z".into(), token: ghost, created_at_ms: 1 }, 7),
        Outcome::Rejected(Rejection::UnknownToken { .. })
    ));
    assert_eq!(
        s.apply(Command::ReleaseUrl { url: "https://x.z".into() }, 8),
        Outcome::UrlReleased { url: "https://x.z".into() }
    );
    assert!(matches!(s.apply(Command::ReleaseUrl { url: "https://x.z".into() }, 9), Outcome::Rejected(_)));
}

#[test]
fn snapshot_carries_pops_bindings_and_reservations() {
    let mut s = State::new();
    let (c1, id1, _) = create(1, "a", 1);
    s.apply(c1, 1);
    s.apply(Command::UpsertPop { record: pop("fra") }, 1);
    s.apply(Command::StartPop { id: "fra".into() }, 1);
    s.apply(bind("https://a.z", "fra", 1, 2), 2);
    s.apply(Command::ReserveUrl { url: "https://a.z".into(), token: id1, created_at_ms: 3 }, 3);
    let json = serde_json::to_string(&s.snapshot()).unwrap();
    let restored = State::restore(serde_json::from_str(&json).unwrap()).unwrap();
    assert_eq!(restored, s);
    // A format-1 snapshot (before PoPs existed) still restores, with them empty.
    let old = r#"{"format":1,"tokens":[],"policy":null}"#;
    let restored = State::restore(serde_json::from_str(old).unwrap()).unwrap();
    assert_eq!(restored, State::new());
}
