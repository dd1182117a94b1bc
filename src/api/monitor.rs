//! `GET /metrics` and `GET /status` (see `crate::monitor`): behind the same credentials as the
//! API when auth is on.

use super::{ApiError, App, Code, header, respond, respond_error};
use std::sync::Arc;
use tiny_http::{Method, Request, Response};

/// Whether `path` is one of the monitoring routes.
pub fn is_monitor_path(path: &str) -> bool {
    matches!(path, "/metrics" | "/status")
}

pub fn serve(app: &Arc<App>, req: Request, path: &str) {
    if !matches!(req.method(), Method::Get | Method::Head) {
        let e = ApiError::new(Code::Unknown, format!("{path} answers GET"));
        let resp =
            super::json_response(405, e.body().into_bytes()).with_header(header("Allow", "GET"));
        respond(req, resp);
        return;
    }
    if path == "/metrics" {
        let version = crate::restic::Restic::new(&app.restic_cmd, &Default::default())
            .ok()
            .and_then(|r| r.version());
        let text = app.config.read(|c| app.monitor.metrics(c, version));
        let resp = Response::from_data(text.into_bytes()).with_header(header(
            "Content-Type",
            "text/plain; version=0.0.4; charset=utf-8",
        ));
        respond(req, resp);
        return;
    }
    let plan = match query_value(req.url(), "plan") {
        Ok(p) => p,
        Err(why) => return respond_error(req, 400, &ApiError::invalid(why)),
    };
    let now = crate::util::now_ms();
    let answer = app
        .config
        .read(|c| app.monitor.status(c, plan.as_deref(), now, &app.zone.tz));
    let (status, body) = match answer {
        Ok(a) => a,
        Err(why) => return respond_error(req, 404, &ApiError::not_found(why)),
    };
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let resp = super::json_response(status, body).with_header(header("Cache-Control", "no-store"));
    respond(req, resp);
}

/// The value of `name` in the URL's query, decoded.
fn query_value(url: &str, name: &str) -> Result<Option<String>, String> {
    let Some((_, query)) = url.split_once('?') else {
        return Ok(None);
    };
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if k == name {
            // A form-encoded query: `+` is a space.
            return crate::util::percent_decode(&v.replace('+', " "))
                .map(Some)
                .map_err(|e| format!("query parameter {name}: {e}"));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::query_value;

    #[test]
    fn query_values_are_found_and_decoded() {
        assert_eq!(query_value("/status", "plan"), Ok(None));
        assert_eq!(
            query_value("/status?plan=a%2Db&x=1", "plan"),
            Ok(Some("a-b".into()))
        );
        assert_eq!(
            query_value("/status?x=1&plan=", "plan"),
            Ok(Some(String::new()))
        );
        assert!(query_value("/status?plan=%zz", "plan").is_err());
    }
}
