//! A small synchronous MQTT 3.1.1 client: what footrest's Home Assistant bridge needs (CONNECT
//! with credentials and a last will, PUBLISH at QoS 0 with retain, SUBSCRIBE at QoS 0, ping),
//! over a plain TCP stream. No crate: the sync clients on crates.io run an async runtime inside
//! (rumqttc) or link a C library (paho); this is about 300 lines.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// Where and as whom to connect: `mqtt://[user[:password]@]host[:port]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerUrl {
    pub host: String,
    pub port: u16,
    pub username: Option<String>,
    pub password: Option<String>,
}

impl BrokerUrl {
    pub fn parse(url: &str) -> Result<BrokerUrl, String> {
        let rest = match url.split_once("://") {
            Some(("mqtt" | "tcp", rest)) => rest,
            Some((scheme, _)) => {
                return Err(format!(
                    "MQTT URL {:?}: scheme {scheme:?} is not supported (use mqtt://)",
                    redact(url)
                ));
            }
            None => {
                return Err(format!(
                    "MQTT URL {:?}: expected mqtt://[user:password@]host[:port]",
                    redact(url)
                ));
            }
        };
        let rest = rest.trim_end_matches('/');
        if rest.contains('/') || rest.contains('?') {
            return Err(format!(
                "MQTT URL {:?}: a path or query is not supported",
                redact(url)
            ));
        }
        let (userinfo, hostport) = match rest.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, rest),
        };
        let (username, password) = match userinfo {
            Some(u) => {
                let (user, pass) = match u.split_once(':') {
                    Some((a, b)) => (a, Some(b)),
                    None => (u, None),
                };
                let dec =
                    |s: &str| crate::util::percent_decode(s).map_err(|e| format!("MQTT URL: {e}"));
                (Some(dec(user)?), pass.map(dec).transpose()?)
            }
            None => (None, None),
        };
        let (host, port) = match hostport.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || hostport.starts_with('[') => (
                h,
                p.parse::<u16>().map_err(|_| {
                    format!("MQTT URL {:?}: port {p:?} is not a number", redact(url))
                })?,
            ),
            _ => (hostport, 1883),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() {
            return Err(format!("MQTT URL {:?}: no host", redact(url)));
        }
        Ok(BrokerUrl {
            host: host.to_string(),
            port,
            username,
            password,
        })
    }

    /// For logs: the URL without its password.
    pub fn display(&self) -> String {
        match &self.username {
            Some(u) => format!("mqtt://{u}@{}:{}", self.host, self.port),
            None => format!("mqtt://{}:{}", self.host, self.port),
        }
    }
}

/// The URL with the password part of its user info hidden (for error messages).
fn redact(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, rest)), Some((_, host))) if rest.contains('@') => {
            let user = rest.split([':', '@']).next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}")
        }
        _ => url.to_string(),
    }
}

/// A message the broker delivered.
#[derive(Debug, PartialEq, Eq)]
pub struct Message {
    pub topic: String,
    pub payload: Vec<u8>,
    /// Delivered from the broker's store (sent with retain), not as it was published.
    pub retained: bool,
}

/// What one read brought.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Message(Message),
    /// A ping answer or an acknowledgement.
    Ack,
    /// Nothing within the read timeout.
    Idle,
}

pub struct Will<'a> {
    pub topic: &'a str,
    pub payload: &'a [u8],
    pub retain: bool,
}

pub struct Connection {
    stream: TcpStream,
    next_id: u16,
}

const CONNECT: u8 = 0x10;
const CONNACK: u8 = 0x20;
const PUBLISH: u8 = 0x30;
const PUBACK: u8 = 0x40;
const SUBSCRIBE: u8 = 0x82;
const SUBACK: u8 = 0x90;
const PINGREQ: u8 = 0xC0;
const PINGRESP: u8 = 0xD0;
const DISCONNECT: u8 = 0xE0;
/// Larger packets from the broker are refused (ours are a few KB).
const MAX_PACKET: usize = 256 * 1024;

impl Connection {
    /// Connects, sends CONNECT (clean session) and waits for the broker's CONNACK.
    pub fn open(
        url: &BrokerUrl,
        client_id: &str,
        will: &Will<'_>,
        keep_alive: Duration,
        timeout: Duration,
    ) -> io::Result<Connection> {
        use std::net::ToSocketAddrs;
        let addr = (url.host.as_str(), url.port)
            .to_socket_addrs()?
            .next()
            .ok_or_else(|| io::Error::other(format!("{} resolves to nothing", url.host)))?;
        let stream = TcpStream::connect_timeout(&addr, timeout)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(Some(timeout))?;
        stream.set_write_timeout(Some(timeout))?;
        let mut body = Vec::new();
        put_str(&mut body, "MQTT");
        body.push(4); // protocol level 3.1.1
        let mut flags = 0x02 | 0x04; // clean session, will
        if will.retain {
            flags |= 0x20;
        }
        if url.username.is_some() {
            flags |= 0x80;
        }
        if url.password.is_some() {
            flags |= 0x40;
        }
        body.push(flags);
        body.extend_from_slice(&(keep_alive.as_secs().min(u16::MAX as u64) as u16).to_be_bytes());
        put_str(&mut body, client_id);
        put_str(&mut body, will.topic);
        put_bytes(&mut body, will.payload);
        if let Some(u) = &url.username {
            put_str(&mut body, u);
        }
        if let Some(p) = &url.password {
            put_str(&mut body, p);
        }
        let mut c = Connection { stream, next_id: 1 };
        c.send(CONNECT, &body)?;
        let (kind, body) = c.read_packet()?;
        if kind & 0xF0 != CONNACK || body.len() != 2 {
            return Err(io::Error::other(
                "the broker did not answer CONNECT with CONNACK",
            ));
        }
        match body[1] {
            0 => Ok(c),
            1 => Err(io::Error::other("the broker refused MQTT 3.1.1")),
            2 => Err(io::Error::other("the broker refused the client id")),
            3 => Err(io::Error::other("the broker is unavailable")),
            4 => Err(io::Error::other(
                "the broker refused the user name or password",
            )),
            5 => Err(io::Error::other("the broker refused: not authorized")),
            n => Err(io::Error::other(format!(
                "the broker refused the connection ({n})"
            ))),
        }
    }

    pub fn set_read_timeout(&self, t: Duration) -> io::Result<()> {
        self.stream.set_read_timeout(Some(t))
    }

    /// PUBLISH at QoS 0.
    pub fn publish(&mut self, topic: &str, payload: &[u8], retain: bool) -> io::Result<()> {
        let mut body = Vec::with_capacity(topic.len() + payload.len() + 2);
        put_str(&mut body, topic);
        body.extend_from_slice(payload);
        self.send(PUBLISH | u8::from(retain), &body)
    }

    /// SUBSCRIBE to one filter at QoS 0 (the SUBACK arrives as `Incoming::Ack`).
    pub fn subscribe(&mut self, filter: &str) -> io::Result<()> {
        let id = self.next_id;
        self.next_id = self.next_id.wrapping_add(1).max(1);
        let mut body = id.to_be_bytes().to_vec();
        put_str(&mut body, filter);
        body.push(0);
        self.send(SUBSCRIBE, &body)
    }

    pub fn ping(&mut self) -> io::Result<()> {
        self.send(PINGREQ, &[])
    }

    pub fn disconnect(mut self) {
        let _ = self.send(DISCONNECT, &[]);
    }

    /// Reads one packet; `Incoming::Idle` on a read timeout with nothing received. A packet
    /// that has begun is read to its end (with the socket's timeout per read).
    pub fn read(&mut self) -> io::Result<Incoming> {
        let mut first = [0u8; 1];
        match self.stream.read(&mut first) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the broker closed",
                ));
            }
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                return Ok(Incoming::Idle);
            }
            Err(e) => return Err(e),
        }
        let len = self.read_length()?;
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body)?;
        self.handle(first[0], body)
    }

    fn handle(&mut self, kind: u8, body: Vec<u8>) -> io::Result<Incoming> {
        match kind & 0xF0 {
            PUBLISH => {
                let qos = (kind >> 1) & 3;
                let tlen = body
                    .get(..2)
                    .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
                    .ok_or_else(|| bad("PUBLISH without a topic"))?;
                let topic = body
                    .get(2..2 + tlen)
                    .ok_or_else(|| bad("PUBLISH topic cut short"))?;
                let topic =
                    String::from_utf8(topic.to_vec()).map_err(|_| bad("topic not UTF-8"))?;
                let mut at = 2 + tlen;
                if qos > 0 {
                    let id = body
                        .get(at..at + 2)
                        .ok_or_else(|| bad("PUBLISH without an id"))?;
                    let id = [id[0], id[1]];
                    at += 2;
                    if qos == 1 {
                        self.send(PUBACK, &id)?;
                    }
                }
                Ok(Incoming::Message(Message {
                    topic,
                    payload: body[at..].to_vec(),
                    retained: kind & 1 != 0,
                }))
            }
            SUBACK | PINGRESP | PUBACK => Ok(Incoming::Ack),
            _ => Err(bad("unexpected packet from the broker")),
        }
    }

    fn read_packet(&mut self) -> io::Result<(u8, Vec<u8>)> {
        let mut first = [0u8; 1];
        self.stream.read_exact(&mut first)?;
        let len = self.read_length()?;
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body)?;
        Ok((first[0], body))
    }

    fn read_length(&mut self) -> io::Result<usize> {
        let mut len = 0usize;
        for shift in [0, 7, 14, 21] {
            let mut b = [0u8; 1];
            self.stream.read_exact(&mut b)?;
            len |= ((b[0] & 0x7F) as usize) << shift;
            if b[0] & 0x80 == 0 {
                if len > MAX_PACKET {
                    return Err(bad("a packet from the broker is too large"));
                }
                return Ok(len);
            }
        }
        Err(bad("bad remaining length"))
    }

    fn send(&mut self, kind: u8, body: &[u8]) -> io::Result<()> {
        let mut packet = Vec::with_capacity(body.len() + 5);
        packet.push(kind);
        let mut n = body.len();
        loop {
            let mut b = (n % 128) as u8;
            n /= 128;
            if n > 0 {
                b |= 0x80;
            }
            packet.push(b);
            if n == 0 {
                break;
            }
        }
        packet.extend_from_slice(body);
        self.stream.write_all(&packet)
    }
}

fn bad(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_bytes(out, s.as_bytes());
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    let n = b.len().min(u16::MAX as usize);
    out.extend_from_slice(&(n as u16).to_be_bytes());
    out.extend_from_slice(&b[..n]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_urls_parse_with_credentials_and_defaults() {
        let u = BrokerUrl::parse("mqtt://ha:p%40ss@broker.lan:1884").unwrap();
        assert_eq!(
            u,
            BrokerUrl {
                host: "broker.lan".into(),
                port: 1884,
                username: Some("ha".into()),
                password: Some("p@ss".into()),
            }
        );
        assert_eq!(u.display(), "mqtt://ha@broker.lan:1884");
        let u = BrokerUrl::parse("mqtt://10.0.0.2").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.username),
            ("10.0.0.2", 1883, None)
        );
        assert_eq!(BrokerUrl::parse("mqtt://[::1]:1883/").unwrap().host, "::1");
        for bad in [
            "broker:1883",
            "mqtts://h",
            "mqtt://",
            "mqtt://h:x",
            "mqtt://h/topic",
        ] {
            assert!(BrokerUrl::parse(bad).is_err(), "{bad}");
        }
        let e = BrokerUrl::parse("mqtts://u:secret@h").unwrap_err();
        assert!(!e.contains("secret"), "{e}");
    }
}
