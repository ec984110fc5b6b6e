//! The binary on a pseudo-terminal, as a user at a terminal runs it: the terminal is its
//! controlling terminal and it is the foreground process, so a `\x03` written to the terminal
//! is a real Ctrl-C (SIGINT from the line discipline, and the `^C` the terminal echoes), and
//! what it printed is replayed on an emulated screen (vt100) to see what the user is left with.

use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub struct Pty {
    master: File,
    output: Arc<Mutex<Vec<u8>>>,
    child: Child,
    reader: Option<std::thread::JoinHandle<()>>,
    rows: u16,
    cols: u16,
}

impl Pty {
    /// Starts `cmd` with a new terminal of `rows` x `cols` as its stdin, stdout and stderr.
    pub fn spawn(mut cmd: Command, rows: u16, cols: u16) -> Pty {
        use rustix::pty::{grantpt, openpt, ptsname, unlockpt, OpenptFlags};
        let master = openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).expect("openpt");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        rustix::termios::tcsetwinsize(
            &master,
            rustix::termios::Winsize {
                ws_row: rows,
                ws_col: cols,
                ws_xpixel: 0,
                ws_ypixel: 0,
            },
        )
        .expect("window size");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        let slave = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(name.to_str().expect("pty name"))
            .expect("open the pty's slave");
        cmd.stdin(slave.try_clone().expect("dup"))
            .stdout(slave.try_clone().expect("dup"))
            .stderr(slave)
            .env("TERM", "xterm-256color");
        // SAFETY: only async-signal-safe calls (setsid, ioctl) between fork and exec.
        unsafe {
            cmd.pre_exec(|| {
                rustix::process::setsid()?;
                rustix::process::ioctl_tiocsctty(rustix::stdio::stdin())?;
                Ok(())
            });
        }
        let child = cmd.spawn().expect("livestack starts");
        drop(cmd); // the parent's copies of the slave: reads see EOF once the child is gone
        let master = File::from(master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let reader = {
            let mut master = master.try_clone().expect("dup");
            let output = output.clone();
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                // EIO once the last process holding the terminal is gone.
                while let Ok(n @ 1..) = master.read(&mut buf) {
                    output.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            })
        };
        Pty {
            master,
            output,
            child,
            reader: Some(reader),
            rows,
            cols,
        }
    }

    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// What the terminal received so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).into_owned()
    }

    /// Waits (at most 60 s) until the output shows `needle`.
    #[track_caller]
    pub fn wait_for(&self, needle: &str) {
        let t0 = Instant::now();
        while !self.text().contains(needle) {
            assert!(
                t0.elapsed() < Duration::from_secs(60),
                "`{needle}` never shown:\n{}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Whether the terminal echoes what is typed.
    pub fn echoes(&self) -> bool {
        rustix::termios::tcgetattr(&self.master)
            .expect("the terminal's modes")
            .local_modes
            .contains(rustix::termios::LocalModes::ECHO)
    }

    /// Types `bytes` (`b"\x03"` is Ctrl-C).
    pub fn type_keys(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).expect("write to the terminal");
    }

    /// Waits (at most 180 s) for the exit: its code, and the screen it left (every row, the
    /// screen being taller than what is printed).
    pub fn finish(&mut self) -> (i32, String) {
        let t0 = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("livestack runs") {
                break s;
            }
            if t0.elapsed() > Duration::from_secs(180) {
                let _ = self.child.kill();
                panic!("livestack hung; killed after 180 s\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        if let Some(r) = self.reader.take() {
            r.join().expect("reader");
        }
        let mut screen = vt100::Parser::new(self.rows, self.cols, 0);
        screen.process(&self.output.lock().unwrap());
        // Row by row: a line as wide as the screen runs on into the next in `contents()`.
        let rows: Vec<String> = screen.screen().rows(0, self.cols).collect();
        (status.code().unwrap_or(-1), rows.join("\n"))
    }
}
