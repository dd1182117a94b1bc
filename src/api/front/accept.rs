//! Accepting clients: the cap on open connections, evicting the oldest unfinished one, and
//! what the front door does when the process runs out of file descriptors.

use super::*;

pub(super) fn open_spare() -> Option<std::fs::File> {
    std::fs::File::open("/dev/null").ok()
}

pub(super) fn nofile_limit() -> u64 {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid out pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) } == 0 {
        // rlim_t is 32 bits on some 32-bit targets.
        #[allow(clippy::useless_conversion)]
        u64::from(r.rlim_cur)
    } else {
        1024
    }
}

impl Loop {
    pub(super) fn accept_some(&mut self) {
        for _ in 0..64 {
            let Some(listener) = &self.listener else {
                return;
            };
            match listener.accept() {
                Ok((sock, addr)) => {
                    self.accept_errors = 0;
                    if sock.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let _ = sock.set_nodelay(true);
                    if self.open_count() >= self.client_cap() && !self.evict_oldest() {
                        // Every slot is busy with a request in flight: refuse this one.
                        let e = ApiError::new(Code::Unavailable, "server busy, retry later");
                        let _ = (&sock).write(&error_response(503, &e));
                        continue;
                    }
                    let now = Instant::now();
                    self.conns.push(Conn {
                        client: sock,
                        peer: addr.ip().to_string(),
                        state: State::Reading {
                            buf: Vec::new(),
                            head: None,
                            reserved: 0,
                        },
                        opened: now,
                        progress: now,
                        closed: false,
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    let code = e.raw_os_error().unwrap_or(0);
                    match code {
                        libc::EINTR | libc::ECONNABORTED | libc::EPROTO | libc::EPERM => continue,
                        libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM => {
                            self.out_of_fds(&e);
                            return;
                        }
                        _ => {
                            self.accept_errors += 1;
                            log::error!("http: accept failed: {e}");
                            if self.accept_errors >= 50 {
                                (self.hooks.fatal)(&format!("the listener keeps failing: {e}"));
                                self.stop.store(true, Ordering::SeqCst);
                            } else {
                                std::thread::sleep(Duration::from_millis(20));
                            }
                            return;
                        }
                    }
                }
            }
        }
    }

    /// accept() failed for lack of fds or memory: make room by closing the oldest unfinished
    /// connection, or take the pending connection with the spare fd and close it at once.
    pub(super) fn out_of_fds(&mut self, e: &io::Error) {
        let now = Instant::now();
        if self
            .last_evict_log
            .is_none_or(|t| now.duration_since(t) > Duration::from_secs(60))
        {
            log::warn!(
                "http: accept failed ({e}) with {} connections open; closing the oldest",
                self.conns.len()
            );
            self.last_evict_log = Some(now);
        }
        let before = self.open_count();
        self.lower_ceiling();
        if self.open_count() < before {
            return;
        }
        self.spare = None;
        if let Some(Ok((sock, _))) = self.listener.as_ref().map(|l| l.accept()) {
            drop(sock);
        }
        self.spare = open_spare();
        if self.spare.is_none() {
            // Nothing could be freed: do not spin on a listener that stays readable.
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Closes the connection that has been sending its request the longest (indices stay valid
    /// until `remove_closed`). False when every connection has a request in flight.
    pub(super) fn evict_oldest(&mut self) -> bool {
        let victim = self
            .conns
            .iter()
            .enumerate()
            .filter(|(_, c)| !c.closed && c.is_unfinished_request())
            .min_by_key(|(_, c)| c.opened)
            .map(|(i, _)| i);
        match victim {
            Some(i) => {
                let now = Instant::now();
                if self
                    .last_evict_log
                    .is_none_or(|t| now.duration_since(t) > Duration::from_secs(60))
                {
                    log::warn!(
                        "http: {} connections open (limit {}); closing the slowest clients",
                        self.conns.len(),
                        self.limits.max_clients
                    );
                    self.last_evict_log = Some(now);
                }
                self.close(i);
                true
            }
            None => false,
        }
    }

    /// How many client connections may be open now.
    pub(super) fn client_cap(&self) -> usize {
        match self.fd_ceiling {
            Some((n, at)) if at.elapsed() < Duration::from_secs(60) => {
                n.min(self.limits.max_clients)
            }
            _ => self.limits.max_clients,
        }
    }

    /// Out of fds: from now on (for a minute) keep the connections to what fits with room for
    /// the requests in flight (three fds each), and close the oldest unfinished ones down to it.
    pub(super) fn lower_ceiling(&mut self) {
        let room = 3 * self.limits.max_active + 2;
        let ceiling = self.open_count().saturating_sub(room).max(1);
        self.fd_ceiling = Some((ceiling, Instant::now()));
        while self.open_count() > ceiling && self.evict_oldest() {}
        self.remove_closed();
    }

    pub(super) fn open_count(&self) -> usize {
        self.conns.iter().filter(|c| !c.closed).count()
    }
}
