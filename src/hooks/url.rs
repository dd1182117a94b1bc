//! The little URL handling hooks need: splitting a URL into parts (for Shoutrrr URLs and for
//! credentials in a webhook URL), redacting a URL to what may be logged, and percent-encoding.
//!
//! Webhook URLs carry keys (Discord, Slack, Healthchecks put them in the path, Gotify in the
//! query, Telegram's bot token is in the path), so only `scheme://host[:port]` is ever shown.

/// A URL split into its parts. `user`, `password` and query values are percent-decoded; `path`
/// is kept as written.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Url {
    pub scheme: String,
    pub user: String,
    pub password: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    pub path: String,
    pub query: Vec<(String, String)>,
}

impl Url {
    pub fn parse(s: &str) -> Result<Url, String> {
        let (scheme, rest) = s
            .split_once("://")
            .ok_or_else(|| "not a URL (no scheme://)".to_string())?;
        if scheme.is_empty()
            || !scheme
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
        {
            return Err("not a URL (bad scheme)".into());
        }
        let rest = rest.split('#').next().unwrap_or_default();
        let (before_query, query) = match rest.split_once('?') {
            Some((a, q)) => (a, q),
            None => (rest, ""),
        };
        let (authority, path) = match before_query.find('/') {
            Some(i) => (&before_query[..i], &before_query[i..]),
            None => (before_query, ""),
        };
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (String::new(), None),
            Some(u) => match u.split_once(':') {
                Some((a, b)) => (decode(a), Some(decode(b))),
                None => (decode(u), None),
            },
        };
        let (host, port) = split_port(hostport)?;
        if host.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err("not a URL (bad host)".into());
        }
        let query = query
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| match p.split_once('=') {
                Some((k, v)) => (decode(k), decode(v)),
                None => (decode(p), String::new()),
            })
            .collect();
        Ok(Url {
            scheme: scheme.to_ascii_lowercase(),
            user,
            password,
            host: host.to_string(),
            port,
            path: path.to_string(),
            query,
        })
    }

    /// The first value of query parameter `key` (case-insensitive, as Shoutrrr reads them).
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(key))
            .map(|(_, v)| v.as_str())
    }

    /// `host[:port]`, brackets kept for IPv6.
    pub fn authority(&self) -> String {
        match self.port {
            Some(p) => format!("{}:{p}", self.host),
            None => self.host.clone(),
        }
    }
}

fn split_port(hostport: &str) -> Result<(&str, Option<u16>), String> {
    let bad_port = || "not a URL (bad port)".to_string();
    if let Some(end) = hostport.strip_prefix('[').and_then(|_| hostport.find(']')) {
        let host = &hostport[..=end];
        return match &hostport[end + 1..] {
            "" => Ok((host, None)),
            p => {
                let p = p.strip_prefix(':').ok_or_else(bad_port)?;
                Ok((host, Some(p.parse().map_err(|_| bad_port())?)))
            }
        };
    }
    match hostport.rsplit_once(':') {
        Some((h, "")) => Ok((h, None)),
        Some((h, p)) => Ok((h, Some(p.parse().map_err(|_| bad_port())?))),
        None => Ok((hostport, None)),
    }
}

/// What of a URL may appear in logs, errors and operation messages: `scheme://host[:port]`.
/// Anything that does not look like a URL is shown as `<url>`.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "<url>".into();
    };
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
    {
        return "<url>".into();
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let hostport = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    format!("{scheme}://{hostport}")
}

/// Percent-decodes (`+` is kept: only query strings of HTML forms mean a space by it); a `%`
/// not followed by two hex digits is kept as it is.
pub fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

/// RFC 3986's unreserved characters: all that `encode` leaves as they are.
const NOT_UNRESERVED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes everything but RFC 3986's unreserved characters (a query value or a path
/// segment).
pub fn encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, NOT_UNRESERVED).to_string()
}

/// Standard base64 with padding (HTTP Basic credentials).
pub fn base64(data: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_parts() {
        let u =
            Url::parse("ntfy://me:p%40ss@ntfy.example:8080/alerts?title=Hi%20there&priority=high")
                .unwrap();
        assert_eq!(u.scheme, "ntfy");
        assert_eq!(
            (u.user.as_str(), u.password.as_deref()),
            ("me", Some("p@ss"))
        );
        assert_eq!((u.host.as_str(), u.port), ("ntfy.example", Some(8080)));
        assert_eq!(u.path, "/alerts");
        assert_eq!(u.param("TITLE"), Some("Hi there"));
        assert_eq!(u.authority(), "ntfy.example:8080");
        let u = Url::parse("telegram://123:ABC-def@telegram?chats=@chan,42").unwrap();
        assert_eq!(
            (u.user.as_str(), u.password.as_deref()),
            ("123", Some("ABC-def"))
        );
        assert_eq!(u.host, "telegram");
        assert_eq!(u.param("chats"), Some("@chan,42"));
        let u = Url::parse("http://[::1]:9/x").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("[::1]", Some(9)));
        assert!(Url::parse("no scheme").is_err());
        assert!(Url::parse("http://host:port/").is_err());
    }

    #[test]
    fn redaction_keeps_only_scheme_host_and_port() {
        assert_eq!(
            redact("https://discord.com/api/webhooks/123/s3cr3t"),
            "https://discord.com"
        );
        assert_eq!(
            redact("https://user:pw@gotify.lan:8443/message?token=abc"),
            "https://gotify.lan:8443"
        );
        assert_eq!(
            redact("https://hc-ping.com/uuid-key"),
            "https://hc-ping.com"
        );
        assert_eq!(redact("not a url with token abc"), "<url>");
        assert_eq!(redact("http://h?token=x"), "http://h");
    }

    #[test]
    fn encoding_round_trips() {
        assert_eq!(encode("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(decode(&encode("a b&c=d/é")), "a b&c=d/é");
        assert_eq!(decode("100%"), "100%");
        assert_eq!(base64(b"user:pass"), "dXNlcjpwYXNz");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b""), "");
    }
}
