//! `GET /metrics`: the node and its apps in the OpenMetrics text format,
//! read from the supervisor at each scrape. Per app (label `app`):
//! instances, restarts, exits by code, run time, memory, requests of an
//! HTTP app, and an info metric with revision, type and state; per node:
//! apps and uptime.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use qyvol_manifest::AppType;

use crate::store::AppRow;
use crate::supervisor::Live;

/// The Content-Type of the answer.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(String, String)>;

fn app(name: &str) -> Labels {
    vec![("app".into(), name.into())]
}

/// Renders the metrics of `apps` (the store's rows with what runs now).
/// `requests`: requests routed to each HTTP app served now.
pub fn render(
    apps: &[(AppRow, AppType, Live)],
    requests: &HashMap<String, u64>,
    uptime_seconds: f64,
) -> String {
    let mut registry = Registry::default();
    let node_apps = Gauge::<i64>::default();
    node_apps.set(apps.len() as i64);
    registry.register("qyvol_node_apps", "Apps deployed on this node", node_apps);
    let uptime = Gauge::<f64, AtomicU64>::default();
    uptime.set(uptime_seconds);
    registry.register(
        "qyvol_node_uptime_seconds",
        "Time since the node started",
        uptime,
    );
    let families = AppFamilies::default();
    for (row, app_type, live) in apps {
        families.add(row, *app_type, live, requests.get(&row.name).copied());
    }
    families.register(&mut registry);
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut out, &registry);
    out
}

/// The per-app metrics, one series per app (per exit code for `exits`).
#[derive(Default)]
struct AppFamilies {
    info: Family<Labels, Gauge>,
    instances: Family<Labels, Gauge>,
    restarts: Family<Labels, Counter>,
    exits: Family<Labels, Counter>,
    run_seconds: Family<Labels, Counter<f64, AtomicU64>>,
    memory: Family<Labels, Gauge>,
    http_requests: Family<Labels, Counter>,
}

impl AppFamilies {
    fn add(&self, row: &AppRow, app_type: AppType, live: &Live, requests: Option<u64>) {
        if let Some(n) = requests {
            self.http_requests.get_or_create(&app(&row.name)).inc_by(n);
        }
        let mut labels = app(&row.name);
        labels.push(("revision".into(), row.revision.to_string()));
        labels.push(("type".into(), app_type.as_str().into()));
        labels.push(("state".into(), live.state.as_str().into()));
        self.info.get_or_create(&labels).set(1);
        let labels = app(&row.name);
        self.instances
            .get_or_create(&labels)
            .set(i64::from(live.instances()));
        self.restarts
            .get_or_create(&labels)
            .inc_by(u64::from(live.restarts));
        self.run_seconds
            .get_or_create(&labels)
            .inc_by(live.run_seconds);
        self.memory
            .get_or_create(&labels)
            .set(i64::try_from(live.memory()).unwrap_or(i64::MAX));
        for (code, count) in &live.exits {
            let mut labels = app(&row.name);
            labels.push(("code".into(), code.to_string()));
            self.exits.get_or_create(&labels).inc_by(*count);
        }
    }

    fn register(self, registry: &mut Registry) {
        registry.register(
            "qyvol_app_info",
            "An app: its current revision, type and state (always 1)",
            self.info,
        );
        registry.register(
            "qyvol_app_instances",
            "Instances of the app running now",
            self.instances,
        );
        registry.register(
            "qyvol_app_restarts",
            "Times the node started the app again by itself, since the node started",
            self.restarts,
        );
        registry.register(
            "qyvol_app_exits",
            "Instances that ended, by exit status, since the node started",
            self.exits,
        );
        registry.register(
            "qyvol_app_run_seconds",
            "Time the app's instances ran, since the node started",
            self.run_seconds,
        );
        registry.register(
            "qyvol_app_memory_bytes",
            "Linear memory of the app's running instance",
            self.memory,
        );
        registry.register(
            "qyvol_app_http_requests",
            "Requests routed to an HTTP app's current revision since it was served",
            self.http_requests,
        );
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::api::types::State;
    use crate::store::Desired;

    #[test]
    fn every_metric_names_its_app() {
        let row = AppRow {
            name: "web".into(),
            revision: 3,
            desired: Desired::Running,
            source: "api".into(),
            created_at: 0,
            updated_at: 0,
        };
        let live = Live {
            revision: 3,
            state: State::Backoff,
            restarts: 2,
            exits: BTreeMap::from([(0, 1), (1, 2)]),
            run_seconds: 1.5,
            ..Live::default()
        };
        let mut web = row.clone();
        web.name = "api".into();
        let requests = HashMap::from([("api".to_string(), 5)]);
        let text = render(
            &[
                (row, AppType::Service, live),
                (web, AppType::Http, Live::default()),
            ],
            &requests,
            12.0,
        );
        for line in [
            "qyvol_node_apps 2",
            "qyvol_app_http_requests_total{app=\"api\"} 5",
            "qyvol_node_uptime_seconds 12.0",
            "qyvol_app_info{app=\"web\",revision=\"3\",type=\"service\",state=\"backoff\"} 1",
            "qyvol_app_instances{app=\"web\"} 0",
            "qyvol_app_restarts_total{app=\"web\"} 2",
            "qyvol_app_exits_total{app=\"web\",code=\"1\"} 2",
            "qyvol_app_run_seconds_total{app=\"web\"} 1.5",
            "qyvol_app_memory_bytes{app=\"web\"} 0",
            "# EOF",
        ] {
            assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
        }
    }
}
