//! Home Assistant over MQTT with Debian's mosquitto broker and its command-line clients: what
//! a Home Assistant install would see (discovery, state, availability) and do (press the button).

use crate::common::*;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A mosquitto broker on a port of its own, stopped on drop.
struct Broker {
    child: Child,
    port: u16,
    _dir: TempDir,
}

impl Broker {
    /// With `user`, the broker refuses anonymous clients and knows only that user.
    fn start(port: u16, user: Option<(&str, &str)>) -> Broker {
        let dir = TempDir::new("mosquitto");
        let mut conf = format!("listener {port} 127.0.0.1\npersistence false\n");
        match user {
            Some((name, pass)) => {
                let file = dir.path().join("passwords");
                let out = Command::new(which("mosquitto_passwd"))
                    .args(["-c", "-b"])
                    .arg(&file)
                    .args([name, pass])
                    .output()
                    .unwrap();
                assert!(out.status.success(), "{out:?}");
                conf.push_str(&format!(
                    "allow_anonymous false\npassword_file {}\n",
                    file.display()
                ));
            }
            None => conf.push_str("allow_anonymous true\n"),
        }
        std::fs::write(dir.path().join("mosquitto.conf"), conf).unwrap();
        // Debian installs the broker in /usr/sbin, which a user's PATH may lack.
        let bin = Some(which("mosquitto"))
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| "/usr/sbin/mosquitto".into());
        let child = Command::new(bin)
            .arg("-c")
            .arg(dir.path().join("mosquitto.conf"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let b = Broker {
            child,
            port,
            _dir: dir,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "mosquitto did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        b
    }

    /// Every retained message under `filter` (topic → payload), as mosquitto_sub sees them.
    fn retained(&self, filter: &str, user: Option<(&str, &str)>) -> BTreeMap<String, String> {
        let mut cmd = Command::new(which("mosquitto_sub"));
        cmd.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-t",
            filter,
        ])
        .args(["-v", "--retained-only", "-W", "1"]);
        if let Some((u, p)) = user {
            cmd.args(["-u", u, "-P", p]);
        }
        let out = cmd.output().unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.split_once(' '))
            .map(|(t, p)| (t.to_string(), p.to_string()))
            .collect()
    }

    fn publish(&self, topic: &str, payload: &str, user: Option<(&str, &str)>) {
        let mut cmd = Command::new(which("mosquitto_pub"));
        cmd.args([
            "-h",
            "127.0.0.1",
            "-p",
            &self.port.to_string(),
            "-t",
            topic,
            "-m",
            payload,
        ]);
        if let Some((u, p)) = user {
            cmd.args(["-u", u, "-P", p]);
        }
        assert!(cmd.status().unwrap().success());
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn daemon_with_plan(work: &Path, mqtt: &str) -> Daemon {
    let src = work.join("src");
    make_source(&src);
    let d = Daemon::start_with(Opts {
        config: Some(json!({"version": 6, "instance": "test-pi"})),
        env: vec![("FOOTREST_MQTT".into(), mqtt.into())],
        ..Default::default()
    });
    add_repo(&d, "repo1", &work.join("repo"));
    set_plans(
        &d,
        vec![json!({"id": "home.docs", "repo": "repo1", "paths": [src.to_str().unwrap()]})],
    );
    d
}

fn state(topics: &BTreeMap<String, String>, topic: &str) -> Option<Value> {
    topics.get(topic).and_then(|p| serde_json::from_str(p).ok())
}

const STATE: &str = "footrest/test-pi/plan/home_docs/state";
const BUTTON: &str = "homeassistant/button/footrest_test-pi/home_docs_backup/config";
const AVAILABILITY: &str = "footrest/test-pi/availability";

#[test]
fn home_assistant_sees_discovery_and_state_and_its_button_runs_a_backup() {
    let user = Some(("ha", "p@ss:word"));
    let broker = Broker::start(free_port(), user);
    let work = TempDir::new("mqtt");
    let url = format!("mqtt://ha:p%40ss%3Aword@127.0.0.1:{}", broker.port);
    let mut d = daemon_with_plan(work.path(), &url);

    let seen = d.wait_for("discovery and state", Duration::from_secs(20), || {
        let t = broker.retained("#", user);
        (t.contains_key(BUTTON) && state(&t, STATE).is_some()).then_some(t)
    });
    assert_eq!(seen[AVAILABILITY], "online");
    let button: Value = serde_json::from_str(&seen[BUTTON]).unwrap();
    assert_eq!(
        button["command_topic"],
        "footrest/test-pi/plan/home_docs/backup"
    );
    assert_eq!(button["availability_topic"], AVAILABILITY);
    assert_eq!(button["device"]["identifiers"][0], "footrest_test-pi");
    let last_success: Value = serde_json::from_str(
        &seen["homeassistant/sensor/footrest_test-pi/home_docs_last_success/config"],
    )
    .unwrap();
    assert_eq!(last_success["device_class"], "timestamp");
    assert_eq!(last_success["state_topic"], STATE);
    assert!(seen.contains_key("homeassistant/sensor/footrest_test-pi/repo_repo1_size/config"));
    assert_eq!(state(&seen, STATE).unwrap()["state"], "never_run");

    // The button: one backup, visible in the history, the repo and the state topic.
    broker.publish("footrest/test-pi/plan/home_docs/backup", "PRESS", user);
    let after = d.wait_for(
        "the state after the button",
        Duration::from_secs(60),
        || {
            let s = state(&broker.retained(STATE, user), STATE)?;
            (s["lastStatus"] == "STATUS_SUCCESS").then_some(s)
        },
    );
    assert_eq!(after["snapshots"], 1, "{after}");
    assert!(after["lastSuccess"].as_str().unwrap().ends_with('Z'));
    assert!(after["bytesAdded"].as_i64().unwrap() > 0);
    assert_eq!(snapshot_ids(&work.path().join("repo")).len(), 1);
    let backups = d.operations(json!({"selector": {"planId": "home.docs"}}));
    assert_eq!(
        backups
            .iter()
            .filter(|o| o.get("operationBackup").is_some())
            .count(),
        1
    );

    // A plan that is removed takes its entities with it (empty retained payloads).
    set_plans(&d, vec![]);
    d.wait_for(
        "the plan's entities removed",
        Duration::from_secs(20),
        || {
            let t = broker.retained("#", user);
            (!t.contains_key(BUTTON) && !t.contains_key(STATE)).then_some(())
        },
    );

    // Stopping says offline.
    d.stop();
    assert_eq!(broker.retained(AVAILABILITY, user)[AVAILABILITY], "offline");
}

#[test]
fn a_broker_that_is_down_blocks_nothing_and_is_reached_once_it_starts() {
    let port = free_port();
    let work = TempDir::new("mqtt-down");
    let d = daemon_with_plan(work.path(), &format!("mqtt://127.0.0.1:{port}"));
    // No broker: the API and backups work.
    let t = std::time::Instant::now();
    d.ok("Backup", json!({"value": "home.docs"}));
    assert!(t.elapsed() < Duration::from_secs(30));
    assert_eq!(d.rpc("GetConfig", json!({})).0, 200);
    assert!(d.log().contains("mqtt: cannot connect"), "{}", d.log());

    let broker = Broker::start(port, None);
    let s = d.wait_for(
        "the state once the broker runs",
        Duration::from_secs(30),
        || {
            let t = broker.retained("footrest/#", None);
            (t.get(AVAILABILITY).map(String::as_str) == Some("online"))
                .then(|| state(&t, STATE))
                .flatten()
        },
    );
    assert_eq!(s["lastStatus"], "STATUS_SUCCESS", "{s}");

    // Killed: the broker publishes the last will.
    drop(d.kill());
    wait_for_offline(&broker);
}

fn wait_for_offline(broker: &Broker) {
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let t = broker.retained(AVAILABILITY, None);
        if t.get(AVAILABILITY).map(String::as_str) == Some("offline") {
            return;
        }
        assert!(std::time::Instant::now() < deadline, "no last will: {t:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}
