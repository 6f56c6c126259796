//! Running a command: exit code, output, the `--output json` summary, peak memory.

use std::process::{Command, Output, Stdio};

use serde_json::Value;

/// What a finished command printed, as text.
#[derive(Debug)]
pub struct Run {
    /// The exit code, -1 if a signal ended it.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout parsed as JSON; panics showing both streams if it is not.
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// Runs `cmd` to the end, capturing its output.
pub fn output(cmd: &mut Command) -> Output {
    cmd.output()
        .unwrap_or_else(|e| panic!("{:?} did not run: {e}", cmd.get_program()))
}

/// Runs `cmd` to the end; its exit code and output as text.
pub fn run(cmd: &mut Command) -> Run {
    let out = output(cmd);
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// [`run`], asserting the exit code is `expect` (the failure shows the command and its output).
pub fn ok(cmd: &mut Command, expect: i32) -> Run {
    let r = run(cmd);
    assert_eq!(
        r.code, expect,
        "exit code of {cmd:?}\nstdout:\n{}\nstderr:\n{}",
        r.stdout, r.stderr
    );
    r
}

/// Adds `--output json`, runs, and parses the summary: (exit code, summary, stderr).
pub fn run_json(cmd: &mut Command) -> (i32, Value, String) {
    cmd.arg("--output").arg("json");
    let out = output(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON summary ({e}); stdout: {}\nstderr: {stderr}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    (out.status.code().unwrap_or(-1), summary, stderr)
}

/// stderr as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Runs the command, sampling the child's VmHWM (peak resident set, KiB) from /proc every 3 ms;
/// returns (exit code, peak KiB, output). Linux only.
pub fn run_peak_kib(cmd: &mut Command) -> (i32, u64, Output) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the command");
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    // Drain the pipes on threads so the child never blocks on a full pipe.
    let mut so = child.stdout.take().unwrap();
    let mut se = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut so, &mut b).unwrap();
        b
    });
    let t_err = std::thread::spawn(move || {
        let mut b = Vec::new();
        std::io::Read::read_to_end(&mut se, &mut b).unwrap();
        b
    });
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(&status_path) {
            if let Some(line) = s.lines().find(|l| l.starts_with("VmHWM:")) {
                let kib: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
                peak = peak.max(kib);
            }
        }
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        std::thread::sleep(std::time::Duration::from_millis(3));
    };
    let out = Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
    };
    (status.code().unwrap_or(-1), peak, out)
}

/// stdout, then stderr, as text: everything a command printed, for assertions on messages
/// that may go to either.
pub fn combined(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `(item[a], item[b])` of each object of the JSON array `items` (both string fields), collected
/// into what the caller wants (a `Vec` in order, or a map).
pub fn string_pairs<C: FromIterator<(String, String)>>(items: &Value, a: &str, b: &str) -> C {
    items
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {items}"))
        .iter()
        .map(|item| {
            let field = |k: &str| {
                item[k]
                    .as_str()
                    .unwrap_or_else(|| panic!("{k} is not a string: {item}"))
                    .to_owned()
            };
            (field(a), field(b))
        })
        .collect()
}
