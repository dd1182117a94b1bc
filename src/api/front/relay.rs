//! The upstream side: complete requests handed to tiny_http over the Unix socket (at most
//! `max_active` at once), and its answers relayed back to the clients.

use super::*;

impl Loop {
    /// Hands queued requests to tiny_http, oldest first, while slots are free.
    pub(super) fn dispatch_queued(&mut self) {
        if self.listener.is_none() {
            return; // draining: the handlers are gone
        }
        let mut active = self.active();
        if active >= self.limits.max_active {
            return;
        }
        let mut order: Vec<usize> = (0..self.conns.len())
            .filter(|&i| matches!(self.conns[i].state, State::Queued { .. }))
            .collect();
        order.sort_by_key(|&i| self.conns[i].opened);
        if !order.is_empty() {
            self.upstream = (self.hooks.upstream)();
        }
        for i in order {
            if active >= self.limits.max_active {
                break;
            }
            let up = match UnixStream::connect(&self.upstream).and_then(|s| {
                s.set_nonblocking(true)?;
                Ok(s)
            }) {
                Ok(s) => s,
                Err(e) => {
                    let code = e.raw_os_error().unwrap_or(0);
                    if matches!(code, libc::EMFILE | libc::ENFILE) {
                        // Make room (our end and tiny_http's two), retry on the next turn.
                        self.lower_ceiling();
                        return;
                    }
                    if matches!(code, libc::ECONNREFUSED | libc::ENOENT) {
                        let now_at = (self.hooks.upstream)();
                        if now_at != self.upstream {
                            // A handler thread has replaced the server already.
                            self.upstream = now_at;
                            return;
                        }
                        // Nobody listens: have the listener replaced (at most every 200 ms),
                        // with a few fds freed for it, and retry.
                        let now = Instant::now();
                        if self
                            .last_repair
                            .is_none_or(|t| now.duration_since(t) > Duration::from_millis(200))
                        {
                            // Again within 2 s: the new listener died too, most likely for
                            // want of fds that new clients keep taking. Cap the clients to
                            // leave room for it, as when our own accept runs out.
                            let again = self
                                .last_repair
                                .is_some_and(|t| now.duration_since(t) < Duration::from_secs(2));
                            self.last_repair = Some(now);
                            if again {
                                self.lower_ceiling();
                            } else {
                                self.evict_oldest();
                                self.evict_oldest();
                                self.remove_closed();
                            }
                            (self.hooks.upstream_down)(&self.upstream);
                            self.upstream = (self.hooks.upstream)();
                        }
                        return;
                    }
                    if matches!(code, libc::EAGAIN | libc::ENOBUFS) {
                        // A full backlog, or the listener being replaced: retried next turn
                        // until the request has waited `idle` (see `sweep_deadlines`).
                        return;
                    }
                    log::error!("http: cannot reach the request handlers: {e}");
                    let err = ApiError::new(Code::Unavailable, "request handlers unavailable");
                    self.answer(i, 503, &err);
                    continue;
                }
            };
            let State::Queued {
                request,
                reserved,
                keep_alive,
            } = std::mem::replace(
                &mut self.conns[i].state,
                State::Draining {
                    until: Instant::now(),
                },
            )
            else {
                continue;
            };
            self.conns[i].state = State::Forwarding {
                up,
                request,
                reserved,
                sent: 0,
                response: Vec::new(),
                response_sent: 0,
                relayed: 0,
                up_done: false,
                head_open: true,
                keep_alive,
                reusable: false,
            };
            self.conns[i].progress = Instant::now();
            active += 1;
        }
    }

    pub(super) fn on_upstream(&mut self, i: usize, revents: libc::c_short) {
        if self.conns[i].closed {
            return;
        }
        let State::Forwarding {
            up,
            request,
            reserved,
            sent,
            response,
            response_sent,
            relayed,
            up_done,
            head_open,
            keep_alive,
            reusable,
        } = &mut self.conns[i].state
        else {
            return;
        };
        let keep_secs = self.limits.idle.as_secs().saturating_sub(2).max(1);
        if revents & libc::POLLOUT != 0 && *sent < request.len() {
            match up.write(&request[*sent..]) {
                Ok(n) => {
                    *sent += n;
                    if *sent >= request.len() {
                        *request = Vec::new();
                        self.budget_used -= *reserved;
                        *reserved = 0;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(_) => *up_done = true,
            }
        }
        let mut fresh = false;
        if revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 && !*up_done {
            if *response_sent == response.len() {
                response.clear();
                *response_sent = 0;
                // An answer that went quiet (an event stream between events) is not a stuck
                // client: the idle clock restarts when new bytes arrive for it.
                fresh = true;
            }
            let mut chunk = [0u8; 16 * 1024];
            while response.len() - *response_sent < RESPONSE_BUFFER {
                match up.read(&mut chunk) {
                    Ok(0) => {
                        *up_done = true;
                        break;
                    }
                    Ok(n) => {
                        response.extend_from_slice(&chunk[..n]);
                        *relayed += n;
                        if *head_open
                            && let Some(r) = rewrite_answer_head(response, *keep_alive, keep_secs)
                        {
                            *head_open = false;
                            *reusable = r;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => {
                        *up_done = true;
                        break;
                    }
                }
            }
            fresh &= !response.is_empty();
        }
        if fresh {
            self.conns[i].progress = Instant::now();
        }
        self.write_response(i);
    }

    pub(super) fn write_response(&mut self, i: usize) {
        let c = &mut self.conns[i];
        let State::Forwarding {
            response,
            response_sent,
            relayed,
            up_done,
            head_open,
            reusable,
            ..
        } = &mut c.state
        else {
            return;
        };
        if *up_done && *relayed == 0 {
            // tiny_http closed without a word (its listener died with the request in its
            // backlog): tell the client to retry rather than drop the connection.
            let e = ApiError::new(Code::Unavailable, "request handlers restarting, retry");
            return self.answer(i, 503, &e);
        }
        if *head_open && !*up_done {
            return; // until the whole head is here to be rewritten
        }
        while *response_sent < response.len() {
            match (&c.client).write(&response[*response_sent..]) {
                Ok(n) => {
                    *response_sent += n;
                    c.progress = Instant::now();
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return self.close(i),
            }
        }
        if *up_done {
            if *reusable {
                // The whole answer is out: read the client's next request on this connection.
                c.state = State::Reading {
                    buf: Vec::new(),
                    head: None,
                    reserved: 0,
                };
                c.opened = Instant::now();
                c.progress = c.opened;
                return;
            }
            self.start_draining(i);
        }
    }
}
