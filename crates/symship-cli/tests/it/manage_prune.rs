//! `symship symbol-sets prune` against symship-testserver: sets aged through the server's
//! stored timestamps; exactly the old ones go, nothing goes with --dry-run or without --yes.

use std::collections::BTreeSet;

use symship_test_support::*;

use crate::support::*;
use symship_testserver::OffsetDateTime;

fn days_ago(d: i64) -> OffsetDateTime {
    OffsetDateTime::now_utc() - std::time::Duration::from_secs((d * 86_400) as u64)
}

fn refs_on_server(server: &symship_testserver::TestServer) -> BTreeSet<String> {
    server.symbol_sets().into_iter().map(|s| s.ref_).collect()
}

#[test]
fn prune_deletes_exactly_the_sets_unused_for_longer() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("b");
    generate_tiny(&dir, 7, "p");
    process(&server, tmp.path(), &dir, &[]);
    let ids: Vec<String> = chunk_ids(&dir).into_iter().map(|(id, _)| id).collect();
    assert_eq!(ids.len(), 7);
    let [a, b, c, d, e, f, g] = [0, 1, 2, 3, 4, 5, 6].map(|i| ids[i].clone());
    // a: used 200 days ago (created 300): old.
    assert!(server.set_created_at(&a, days_ago(300)));
    assert!(server.set_last_used(&a, Some(days_ago(200))));
    // b: never used, created 250 days ago: old.
    assert!(server.set_created_at(&b, days_ago(250)));
    assert!(server.set_last_used(&b, None));
    // c: created 300 days ago but used 10 days ago: kept.
    assert!(server.set_created_at(&c, days_ago(300)));
    assert!(server.set_last_used(&c, Some(days_ago(10))));
    // d: never used, created 100 days ago: old.
    assert!(server.set_created_at(&d, days_ago(100)));
    assert!(server.set_last_used(&d, None));
    // e: used 89 days ago: kept.
    assert!(server.set_created_at(&e, days_ago(120)));
    assert!(server.set_last_used(&e, Some(days_ago(89))));
    // f: never used, created 30 days ago: kept. g: fresh.
    assert!(server.set_created_at(&f, days_ago(30)));
    assert!(server.set_last_used(&f, None));
    let expected_old = vec![b.clone(), a.clone(), d.clone()]; // longest idle first
    let all = refs_on_server(&server);

    // --dry-run: shows them, deletes nothing, sends no delete.
    let r = ok(
        symship_for(&server, tmp.path()).args([
            "symbol-sets",
            "prune",
            "--unused-for",
            "90d",
            "--dry-run",
            "--output",
            "json",
        ]),
        0,
    );
    let v = r.json();
    let candidates: Vec<String> = v["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["ref"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(candidates, expected_old);
    assert_eq!(v["deleted"], 0);
    assert_eq!(v["dry_run"], true);
    assert_eq!(refs_on_server(&server), all);
    assert!(!server
        .requests()
        .iter()
        .any(|r| r.route == "bulk_delete" || r.route == "destroy"));
    // Event-mode chunk ids are content-derived, so refs are stable here.
    assert_json_snapshot("prune_dry_run", &normalize_ids(&v, &[]));

    // The text form lists the same sets.
    let r = ok(
        symship_for(&server, tmp.path()).args(["symbol-sets", "prune", "--unused-for", "90d", "--dry-run"]),
        0,
    );
    assert!(
        r.stdout.starts_with("3 symbol sets unused since "),
        "{}",
        r.stdout
    );
    for id in &expected_old {
        assert!(r.stdout.contains(id.as_str()), "{}", r.stdout);
    }
    for id in [&c, &e, &f, &g] {
        assert!(!r.stdout.contains(id.as_str()), "{}", r.stdout);
    }
    assert!(r.stdout.trim_end().ends_with("--dry-run: nothing deleted"));

    // Standard input is not a terminal and no --yes: usage error (2), before any request.
    let before = server.requests().len();
    let r = ok(
        symship_for(&server, tmp.path()).args(["symbol-sets", "prune", "--unused-for", "90d"]),
        2,
    );
    assert!(r.stderr.contains("--yes"), "{}", r.stderr);
    assert_eq!(server.requests().len(), before);
    assert_eq!(refs_on_server(&server), all);
    // A bad age is a usage error too.
    for bad in ["90", "0d", "3y"] {
        ok(
            symship_for(&server, tmp.path()).args(["symbol-sets", "prune", "--unused-for", bad, "--yes"]),
            2,
        );
    }

    // --yes: exactly the old ones go, in one bulk_delete.
    let r = ok(
        symship_for(&server, tmp.path()).args([
            "symbol-sets",
            "prune",
            "--unused-for",
            "90d",
            "--yes",
            "--output",
            "json",
        ]),
        0,
    );
    assert_eq!(r.json()["deleted"], 3);
    let left = refs_on_server(&server);
    let expected_left: BTreeSet<String> = [&c, &e, &f, &g].into_iter().cloned().collect();
    assert_eq!(left, expected_left);
    let bulk: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.route == "bulk_delete")
        .collect();
    assert_eq!(bulk.len(), 1);
    // A shorter age now takes e (89 days) and f (30 days) but not c (10) nor g.
    let r = ok(
        symship_for(&server, tmp.path()).args(["symbol-sets", "prune", "--unused-for", "4w", "-y"]),
        0,
    );
    assert!(
        r.stdout.trim_end().ends_with("deleted 2 symbol sets"),
        "{}",
        r.stdout
    );
    assert_eq!(
        refs_on_server(&server),
        [&c, &g].into_iter().cloned().collect::<BTreeSet<_>>()
    );
    // Nothing old left: nothing to do, exit 0.
    let r = ok(
        symship_for(&server, tmp.path()).args(["symbol-sets", "prune", "--unused-for", "90d", "--yes"]),
        0,
    );
    assert!(r.stdout.starts_with("0 symbol sets unused since"), "{}", r.stdout);
}

#[test]
fn prune_within_one_release() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let one = tmp.path().join("one");
    let two = tmp.path().join("two");
    generate_tiny(&one, 3, "r1_");
    generate_tiny(&two, 3, "r2_");
    let mode = ["--release-mode", "symbol-set", "--release-name", "web"];
    process(
        &server,
        tmp.path(),
        &one,
        &[&mode[..], &["--release-version", "1"]].concat(),
    );
    process(
        &server,
        tmp.path(),
        &two,
        &[&mode[..], &["--release-version", "2"]].concat(),
    );
    // Every set is old, but only release web@1 is pruned.
    for s in server.symbol_sets() {
        assert!(server.set_last_used(&s.ref_, Some(days_ago(365))));
    }
    let two_refs: BTreeSet<String> = chunk_ids(&two).into_iter().map(|(id, _)| id).collect();
    let r = ok(
        symship_for(&server, tmp.path()).args([
            "symbol-sets",
            "prune",
            "--unused-for",
            "30d",
            "--release",
            "web@1",
            "--yes",
            "--output",
            "json",
        ]),
        0,
    );
    let v = r.json();
    assert_eq!(v["deleted"], 3);
    assert_eq!(v["release"]["version"], "1");
    assert_eq!(refs_on_server(&server), two_refs);
}

/// On a terminal, prune asks and deletes only on "y". `script` (util-linux) gives the child a
/// pseudo-terminal and forwards our answer to it.
#[test]
#[allow(clippy::disallowed_methods)] // test harness settings from the environment
fn prune_asks_on_a_terminal() {
    let server = server();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("b");
    generate_tiny(&dir, 2, "t");
    process(&server, tmp.path(), &dir, &[]);
    let ids: Vec<String> = chunk_ids(&dir).into_iter().map(|(id, _)| id).collect();
    assert!(server.set_last_used(&ids[0], Some(days_ago(100))));
    let bin = env!("CARGO_BIN_EXE_symship");
    let answer = |text: &str| {
        // The server's environment of `symship(...)`, given to `script`, which runs the binary.
        let env = symship_for(&server, tmp.path());
        let mut child = std::process::Command::new("script")
            .args(["-q", "-e", "-c"])
            .arg(format!("{bin} symbol-sets prune --unused-for 90d"))
            .arg("/dev/null")
            .current_dir(tmp.path())
            .env_clear()
            .envs(
                env.get_envs()
                    .filter_map(|(k, v)| v.map(|v| (k.to_owned(), v.to_owned()))),
            )
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TERM", "dumb")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("run `script` (util-linux; it must be installed: apt-get install bsdutils)");
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut stdout, &mut s).unwrap();
            s
        });
        // The answer waits in the terminal's input until prune reads it; stdin stays open
        // until the child is done (an early EOF would end the terminal session).
        let mut stdin = child.stdin.take().unwrap();
        std::io::Write::write_all(&mut stdin, text.as_bytes()).unwrap();
        let status = child.wait().unwrap();
        drop(stdin);
        (status.code().unwrap_or(-1), reader.join().unwrap())
    };
    let (code, out) = answer("n\n");
    assert!(out.contains("Delete this symbol set? [y/N]"), "{out}");
    assert_eq!(code, 1, "{out}");
    assert_eq!(refs_on_server(&server).len(), 2, "nothing deleted on 'n'");
    let (code, out) = answer("y\n");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("deleted 1 symbol set"), "{out}");
    assert_eq!(
        refs_on_server(&server),
        [ids[1].clone()].into_iter().collect::<BTreeSet<_>>()
    );
}
