//! Home Assistant over MQTT (`--mqtt URL`, `FOOTREST_MQTT`): footrest publishes Home Assistant
//! MQTT discovery for each plan and repo, their state as it changes, and an availability topic
//! with a last will, and runs a backup when a plan's "Back up now" button is pressed.
//!
//! Topics, with `<node>` the config's instance id made topic-safe:
//! - `homeassistant/<component>/<node>/<object>/config`: discovery (retained; an empty retained
//!   payload removes an entity whose plan or repo is gone);
//! - `footrest/<node>/availability`: `online` / `offline` (retained, and the last will);
//! - `footrest/<node>/plan/<plan>/state`, `footrest/<node>/repo/<repo>/state`: the plan's or
//!   repo's entry of `GET /status` (retained);
//! - `footrest/<node>/plan/<plan>/backup`: the button's command topic.
//!
//! One thread owns the connection. It is told of changes through a channel of one slot that the
//! operation log's listener and the config fill with `try_send`, so a broker that is down or
//! slow never blocks the worker or the API; it reconnects with a backoff of 1 s doubling to 60 s.
//! What it publishes is only what changed since the last publish on this connection.

mod wire;

pub use wire::BrokerUrl;

use crate::config::{Config, SharedConfig};
use crate::monitor::{Monitor, Status};
use crate::orchestrator::Orchestrator;
use crate::schedule::TimeZone;
use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use wire::{Connection, Incoming, Will};

/// What the bridge reads and acts on.
pub struct Env {
    pub config: Arc<SharedConfig>,
    pub monitor: Arc<Monitor>,
    pub orchestrator: Arc<Orchestrator>,
    pub oplog: Arc<crate::oplog::OpLog>,
    pub tz: TimeZone,
}

/// The running bridge; `stop` publishes `offline` and disconnects.
pub struct Bridge {
    stop: Arc<AtomicBool>,
    wake: crossbeam_channel::Sender<()>,
    thread: Option<JoinHandle<()>>,
}

const DISCOVERY_PREFIX: &str = "homeassistant";

fn keep_alive() -> Duration {
    crate::settings::get().mqtt_keepalive
}

impl Bridge {
    pub fn start(url: BrokerUrl, env: Env) -> std::io::Result<Bridge> {
        let (wake, woken) = crossbeam_channel::bounded(1);
        let for_log = wake.clone();
        env.oplog.subscribe(Box::new(move |_| {
            let _ = for_log.try_send(());
        }));
        let config_changed = env.config.subscribe();
        let stop = Arc::new(AtomicBool::new(false));
        let stop2 = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("mqtt".into())
            .spawn(move || {
                let mut b = Session {
                    env,
                    url,
                    stop: stop2,
                    woken,
                    config_changed,
                    published: BTreeMap::new(),
                };
                b.run();
            })?;
        Ok(Bridge {
            stop,
            wake,
            thread: Some(thread),
        })
    }

    pub fn stop(mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = self.wake.try_send(());
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            log::error!("the MQTT thread panicked");
        }
    }
}

struct Session {
    env: Env,
    url: BrokerUrl,
    stop: Arc<AtomicBool>,
    woken: crossbeam_channel::Receiver<()>,
    config_changed: crossbeam_channel::Receiver<()>,
    /// Topic → payload published on this connection (retained ones).
    published: BTreeMap<String, Vec<u8>>,
}

impl Session {
    fn run(&mut self) {
        let mut backoff = Duration::from_secs(1);
        let mut failures = 0u32;
        while !self.stop.load(Ordering::SeqCst) {
            let node = self.node();
            let availability = format!("footrest/{node}/availability");
            let will = Will {
                topic: &availability,
                payload: b"offline",
                retain: true,
            };
            let client_id = format!("footrest-{node}");
            match Connection::open(
                &self.url,
                &client_id,
                &will,
                keep_alive(),
                Duration::from_secs(10),
            ) {
                Ok(conn) => {
                    log::info!("mqtt: connected to {}", self.url.display());
                    let began = Instant::now();
                    if let Err(e) = self.session(conn, &node) {
                        log::warn!("mqtt: connection to {} lost: {e}", self.url.display());
                    }
                    // A broker that takes the connection and drops it at once (a second client
                    // with our id, say) is retried with the backoff, not every second.
                    if began.elapsed() >= Duration::from_secs(60) {
                        backoff = Duration::from_secs(1);
                        failures = 0;
                    }
                }
                Err(e) => {
                    failures += 1;
                    // Said once, then every tenth attempt: a broker that is down for days must
                    // not fill the log.
                    if failures == 1 || failures.is_multiple_of(10) {
                        log::warn!(
                            "mqtt: cannot connect to {}: {e} (retrying in {} s)",
                            self.url.display(),
                            backoff.as_secs()
                        );
                    }
                }
            }
            self.published.clear();
            let until = Instant::now() + backoff;
            while !self.stop.load(Ordering::SeqCst) && Instant::now() < until {
                let _ = self.woken.recv_timeout(until - Instant::now());
            }
            backoff = (backoff * 2).min(Duration::from_secs(60));
        }
    }

    fn node(&self) -> String {
        let instance = self.env.config.read(|c| c.instance.clone());
        let n = topic_safe(&instance);
        if n.is_empty() { "footrest".into() } else { n }
    }

    /// One connection: announce, publish, then serve the button and publish changes until the
    /// connection fails or footrest stops.
    fn session(&mut self, mut conn: Connection, node: &str) -> std::io::Result<()> {
        let availability = format!("footrest/{node}/availability");
        let commands = format!("footrest/{node}/plan/+/backup");
        conn.subscribe(&commands)?;
        conn.publish(&availability, b"online", true)?;
        self.publish_changes(&mut conn, node)?;
        conn.set_read_timeout(Duration::from_millis(250))?;
        let keep_alive = keep_alive();
        let mut last_sent = Instant::now();
        let mut last_heard = Instant::now();
        let mut ping_sent: Option<Instant> = None;
        let mut last_refresh = Instant::now();
        loop {
            if self.stop.load(Ordering::SeqCst) {
                conn.publish(&availability, b"offline", true)?;
                conn.disconnect();
                return Ok(());
            }
            match conn.read()? {
                Incoming::Message(m) => {
                    last_heard = Instant::now();
                    // A retained command is an old press (or a stray `-r`): pressing again after
                    // every reconnect would back up each time.
                    if !m.retained {
                        self.on_message(node, &m.topic);
                    }
                }
                Incoming::Ack => {
                    last_heard = Instant::now();
                    ping_sent = None;
                }
                Incoming::Idle => {}
            }
            let changed = self.woken.try_recv().is_ok() | self.config_changed.try_recv().is_ok();
            // A refresh every 30 s as well: "overdue" and "next run" move with the clock.
            if changed || last_refresh.elapsed() >= Duration::from_secs(30) {
                if self.node() != node {
                    return Err(std::io::Error::other("the instance id changed"));
                }
                if self.publish_changes(&mut conn, node)? {
                    last_sent = Instant::now();
                }
                last_refresh = Instant::now();
            }
            // Publishes (QoS 0) get no answer: a ping tells a live broker from a dead one, sent
            // when we have been quiet or have not heard from it for half a keep-alive.
            let half = keep_alive / 2;
            if ping_sent.is_none() && (last_sent.elapsed() >= half || last_heard.elapsed() >= half)
            {
                conn.ping()?;
                last_sent = Instant::now();
                ping_sent = Some(last_sent);
            }
            if ping_sent.is_some_and(|t| t.elapsed() > keep_alive) {
                return Err(std::io::Error::other("the broker stopped answering"));
            }
        }
    }

    fn on_message(&self, node: &str, topic: &str) {
        let prefix = format!("footrest/{node}/plan/");
        let Some(plan_topic) = topic
            .strip_prefix(&prefix)
            .and_then(|t| t.strip_suffix("/backup"))
        else {
            return;
        };
        let plan = self.env.config.read(|c| {
            c.plans
                .iter()
                .find(|p| topic_safe(&p.id) == plan_topic)
                .map(|p| (p.id.clone(), p.repo.clone()))
        });
        let Some((plan, repo)) = plan else {
            log::warn!("mqtt: backup asked for an unknown plan {plan_topic:?}");
            return;
        };
        let queued = self.env.orchestrator.queued().iter().any(|(_, _, t)| {
            matches!(t, crate::orchestrator::Task::Backup { plan_id, .. } if *plan_id == plan)
        });
        // The running task is no longer in the queue: the monitor knows it runs.
        if queued || self.env.monitor.backup_running(&repo, &plan) {
            log::info!("mqtt: a backup of {plan} is already queued or running");
            return;
        }
        match self.env.orchestrator.enqueue_backup(&plan, false, None) {
            Ok(id) => log::info!("mqtt: backup of {plan} queued (operation {id})"),
            Err(e) => log::warn!("mqtt: backup of {plan}: {e}"),
        }
    }

    /// Publishes every retained topic whose payload differs from what this connection last
    /// sent, and clears those that are gone. True when something was sent.
    fn publish_changes(&mut self, conn: &mut Connection, node: &str) -> std::io::Result<bool> {
        let now = crate::util::now_ms();
        let wanted = self.env.config.read(|c| {
            match self.env.monitor.status(c, None, now, &self.env.tz) {
                Ok((_, status)) => topics(c, &status, node),
                Err(_) => BTreeMap::new(), // only for one unknown plan; this asks for all
            }
        });
        let mut sent = false;
        let gone: Vec<String> = self
            .published
            .keys()
            .filter(|t| !wanted.contains_key(*t))
            .cloned()
            .collect();
        for topic in gone {
            conn.publish(&topic, b"", true)?;
            self.published.remove(&topic);
            sent = true;
        }
        for (topic, payload) in wanted {
            if self.published.get(&topic) != Some(&payload) {
                conn.publish(&topic, &payload, true)?;
                self.published.insert(topic, payload);
                sent = true;
            }
        }
        Ok(sent)
    }
}

/// Topic levels and discovery ids allow `[A-Za-z0-9_-]`: anything else becomes `_`.
fn topic_safe(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The entities of a plan: component, object id suffix, name (`{}` is the plan id) and the
/// rest of the discovery payload (JSON members).
const PLAN_ENTITIES: [(&str, &str, &str, &str); 6] = [
    (
        "sensor",
        "state",
        "{} backup",
        r#""value_template":"{{ value_json.state }}","icon":"mdi:backup-restore""#,
    ),
    (
        "sensor",
        "last_success",
        "{} last successful backup",
        r#""device_class":"timestamp","value_template":"{{ value_json.lastSuccess or none }}""#,
    ),
    (
        "sensor",
        "bytes_added",
        "{} bytes added",
        r#""device_class":"data_size","unit_of_measurement":"B","state_class":"measurement","value_template":"{{ value_json.bytesAdded if value_json.bytesAdded is not none else none }}""#,
    ),
    (
        "sensor",
        "snapshots",
        "{} snapshots",
        r#""state_class":"measurement","value_template":"{{ value_json.snapshots }}""#,
    ),
    (
        "binary_sensor",
        "problem",
        "{} backup problem",
        r#""device_class":"problem","value_template":"{{ 'OFF' if value_json.healthy else 'ON' }}""#,
    ),
    (
        "button",
        "backup",
        "Back up {} now",
        r#""payload_press":"PRESS","icon":"mdi:cloud-upload""#,
    ),
];

const REPO_ENTITIES: [(&str, &str, &str, &str); 2] = [
    (
        "sensor",
        "size",
        "repo {} size",
        r#""device_class":"data_size","unit_of_measurement":"B","state_class":"measurement","value_template":"{{ value_json.sizeBytes if value_json.sizeBytes is not none else none }}""#,
    ),
    (
        "sensor",
        "last_check",
        "repo {} last check",
        r#""value_template":"{{ value_json.lastCheck.status if value_json.lastCheck else none }}""#,
    ),
];

/// Every retained topic and payload for this config and status (see the module doc).
fn topics(config: &Config, status: &Status, node: &str) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let name = if config.instance.is_empty() {
        node
    } else {
        &config.instance
    };
    let device = format!(
        r#""availability_topic":"footrest/{node}/availability","device":{{"identifiers":["footrest_{node}"],"name":{},"manufacturer":"footrest","model":"footrest backup daemon","sw_version":"{}"}}"#,
        Value::from(format!("footrest {name}")),
        env!("CARGO_PKG_VERSION"),
    );
    let plans = status
        .plans
        .iter()
        .map(|p| ("plan", &PLAN_ENTITIES[..], "", &p.id, serde_json::to_vec(p)));
    let repos = status.repos.iter().flatten().map(|r| {
        (
            "repo",
            &REPO_ENTITIES[..],
            "repo_",
            &r.id,
            serde_json::to_vec(r),
        )
    });
    for (kind, list, prefix, id, state_json) in plans.chain(repos) {
        let safe = topic_safe(id);
        let state = format!("footrest/{node}/{kind}/{safe}/state");
        for (component, suffix, title, rest) in list {
            let object = format!("{prefix}{safe}_{suffix}");
            let topic = match *component {
                "button" => format!(r#""command_topic":"footrest/{node}/plan/{safe}/backup""#),
                _ => format!(r#""state_topic":"{state}","json_attributes_topic":"{state}""#),
            };
            let payload = format!(
                r#"{{"name":{},"unique_id":"footrest_{node}_{object}",{topic},{rest},{device}}}"#,
                Value::from(title.replace("{}", id)),
            );
            out.insert(
                format!("{DISCOVERY_PREFIX}/{component}/footrest_{node}/{object}/config"),
                payload.into_bytes(),
            );
        }
        out.insert(state, state_json.unwrap_or_default());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn discovery_names_every_entity_under_one_device_with_safe_ids() {
        let config: Config = serde_json::from_value(json!({
            "instance": "pi zero",
            "repos": [{"id": "nas", "uri": "/x"}],
            "plans": [{"id": "home.docs", "repo": "nas", "paths": ["/x"]}],
        }))
        .unwrap();
        let dir = std::env::temp_dir().join(format!("footrest-mqtt-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let m = Monitor::start(&std::sync::Arc::new(
            crate::oplog::OpLog::open(&dir).unwrap(),
        ));
        let (_, status) = m.status(&config, None, 0, &TimeZone::UTC).unwrap();
        let t = topics(&config, &status, &topic_safe(&config.instance));
        let keys: Vec<&str> = t.keys().map(|k| k.as_str()).collect();
        assert!(
            keys.contains(&"homeassistant/button/footrest_pi_zero/home_docs_backup/config"),
            "{keys:?}"
        );
        assert!(keys.contains(&"footrest/pi_zero/plan/home_docs/state"));
        assert!(keys.contains(&"footrest/pi_zero/repo/nas/state"));
        assert_eq!(keys.len(), 6 + 1 + 2 + 1, "{keys:?}");
        let button: Value = serde_json::from_slice(
            &t["homeassistant/button/footrest_pi_zero/home_docs_backup/config"],
        )
        .unwrap();
        assert_eq!(
            button["command_topic"],
            "footrest/pi_zero/plan/home_docs/backup"
        );
        assert_eq!(
            button["availability_topic"],
            "footrest/pi_zero/availability"
        );
        assert_eq!(button["device"]["identifiers"][0], "footrest_pi_zero");
        assert_eq!(button["unique_id"], "footrest_pi_zero_home_docs_backup");
        assert_eq!(button["name"], "Back up home.docs now");
        for (topic, payload) in &t {
            let v: Value =
                serde_json::from_slice(payload).unwrap_or_else(|e| panic!("{topic}: {e}"));
            if topic.ends_with("/config") {
                assert_eq!(v["device"]["name"], "footrest pi zero", "{topic}");
                assert!(
                    v["unique_id"]
                        .as_str()
                        .unwrap()
                        .starts_with("footrest_pi_zero_")
                );
            }
        }
        let size: Value = serde_json::from_slice(
            &t["homeassistant/sensor/footrest_pi_zero/repo_nas_size/config"],
        )
        .unwrap();
        assert_eq!(size["state_topic"], "footrest/pi_zero/repo/nas/state");
        assert_eq!(size["unit_of_measurement"], "B");
        let _ = std::fs::remove_dir_all(dir);
    }
}
