//! A real SQS-protocol server for tests: `moto_server` (`pip install 'moto[server]'`) on
//! 127.0.0.1 on a free port, with dummy credentials.
//!
//! Every wait is bounded. The server is killed and reaped when its [`Moto`] guard drops, and,
//! as a second line of defence, it watches its stdin (a pipe from the test process) and exits
//! when the test process is gone, so that even a shared server in a `static` never outlives
//! the test binary. If it cannot start, the test panics with the reason: SQS tests are never
//! skipped.
//!
//! Shared by `cnd-sqs/tests` and the `cnd-cli` process tests (`#[path]` include); std only.
#![allow(dead_code)]

use std::io::Read as _;
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long the server may take to answer its first request.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The dummy credentials and region every client of the server uses.
pub const AWS_ENV: &[(&str, &str)] = &[
    ("AWS_ACCESS_KEY_ID", "test"),
    ("AWS_SECRET_ACCESS_KEY", "test"),
    ("AWS_SESSION_TOKEN", "test"),
    ("AWS_REGION", "us-east-1"),
    ("AWS_DEFAULT_REGION", "us-east-1"),
    // Never ask an instance metadata service for credentials or a region.
    ("AWS_EC2_METADATA_DISABLED", "true"),
    ("AWS_CONFIG_FILE", "/dev/null"),
    ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
];

/// Python that runs moto's server and exits when its stdin closes (the test process died).
const LAUNCHER: &str = "import os, sys, threading\n\
def watch():\n    sys.stdin.buffer.read()\n    os._exit(0)\n\
threading.Thread(target=watch, daemon=True).start()\n\
from moto.server import main\n\
main(sys.argv[1:])\n";

/// A running moto server; killed and reaped on drop.
#[derive(Debug)]
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub endpoint: String,
    /// The server's log.
    pub log: PathBuf,
}

impl Moto {
    /// Starts a server and waits (bounded) until it answers HTTP. Panics loudly if it cannot.
    pub fn start() -> Moto {
        Moto::start_on(free_port())
    }

    /// Starts a server on this port (e.g. again, after stopping one, to restart it).
    pub fn start_on(port: u16) -> Moto {
        let log = std::env::temp_dir().join(format!("cnd-moto-{}-{port}.log", std::process::id()));
        let log_file = std::fs::File::create(&log).expect("create the moto log file");
        let python = std::env::var("CND_TEST_PYTHON").unwrap_or_else(|_| "python3".into());
        let mut child = Command::new(&python)
            .arg("-c")
            .arg(LAUNCHER)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(AWS_ENV.iter().copied())
            .stdin(Stdio::piped())
            .stdout(log_file.try_clone().expect("clone the log file"))
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start moto_server with {python}: {e} (pip install 'moto[server]')"));
        let endpoint = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            if let Some(status) = child.try_wait().expect("poll moto_server") {
                panic!(
                    "moto_server exited with {status} before answering (pip install 'moto[server]'); log:\n{}",
                    read_log(&log)
                );
            }
            if http_ok(port) {
                break;
            }
            if started.elapsed() > START_TIMEOUT {
                let _ = child.kill();
                let _ = child.wait();
                panic!("moto_server did not answer on {endpoint} within {START_TIMEOUT:?}; log:\n{}", read_log(&log));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto { child, endpoint, log }
    }

    /// One server for the whole test binary (it exits with the test process).
    pub fn shared() -> &'static Moto {
        static SHARED: OnceLock<Moto> = OnceLock::new();
        SHARED.get_or_init(Moto::start)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.endpoint.rsplit(':').next().and_then(|p| p.parse().ok()).expect("a port in the endpoint")
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_file(&self.log);
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port on 127.0.0.1");
    listener.local_addr().expect("local address").port()
}

/// True once the server answers an HTTP request.
fn http_ok(port: u16) -> bool {
    use std::io::Write as _;
    let addr = ([127, 0, 0, 1], port).into();
    let Ok(mut s) = TcpStream::connect_timeout(&addr, Duration::from_millis(200)) else { return false };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    matches!(s.read(&mut head), Ok(n) if n >= 12 && head.starts_with(b"HTTP/"))
}

fn read_log(path: &PathBuf) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
