//! The table of apps a server serves, and the [`ServeHandle`] that changes
//! it while the server serves: a new app is loaded outside any lock, then
//! the table is swapped whole. A request works on the table it was routed
//! with, so one in flight finishes on the app it started on even when that
//! app is replaced or removed meanwhile.

use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::metrics::CodeSource;
use crate::serve::app::{LoadedApp, ServeApp};
use crate::serve::elsewhere::Elsewhere;
use crate::serve::epoch::EpochClock;
use crate::serve::error::ServeError;
use crate::serve::router::Router;
use crate::spec::RunSpec;

/// The apps served at one moment, and which route leads to which.
#[derive(Default)]
pub(crate) struct Table {
    pub(crate) apps: Vec<Arc<LoadedApp>>,
    router: Router,
}

impl Table {
    fn new(apps: Vec<Arc<LoadedApp>>) -> Table {
        let router = Router::new(
            apps.iter()
                .enumerate()
                .map(|(i, a)| (a.http.route.clone(), i)),
        );
        Table { apps, router }
    }

    /// The app whose route is the longest prefix of `path`.
    pub(crate) fn route(&self, path: &str) -> Option<&Arc<LoadedApp>> {
        self.router.find(path).map(|i| &self.apps[i])
    }

    pub(crate) fn named(&self, name: &str) -> Option<&Arc<LoadedApp>> {
        self.apps.iter().find(|a| &*a.name == name)
    }

    fn routes(&self) -> Vec<(String, String)> {
        self.apps
            .iter()
            .map(|a| (a.http.route.clone(), a.name.to_string()))
            .collect()
    }
}

/// The table served now, and the clock of the apps in it that have a time
/// limit.
#[derive(Default)]
pub(crate) struct Apps {
    current: RwLock<Arc<Table>>,
    pub(crate) clock: EpochClock,
    /// Other servers of the cluster, for the routes not served here.
    pub(crate) elsewhere: RwLock<Option<Arc<dyn Elsewhere>>>,
    /// This server's name in its cluster, said in every response.
    pub(crate) node: RwLock<Option<http::HeaderValue>>,
}

impl Apps {
    /// Loads every app (compiling or mapping cached code) after checking
    /// that names and routes are unique, and serves them; returns the
    /// warnings of their loading.
    pub(crate) fn load(&self, apps: Vec<ServeApp>) -> Result<Vec<String>, ServeError> {
        check_unique(&apps)?;
        let mut loaded = Vec::with_capacity(apps.len());
        let mut warnings = Vec::new();
        for app in apps {
            let (app, w) = LoadedApp::load(app)?;
            warnings.extend(w);
            loaded.push(Arc::new(app));
        }
        self.clock.add(&loaded);
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(Table::new(loaded));
        Ok(warnings)
    }

    /// The apps served now.
    pub(crate) fn current(&self) -> Arc<Table> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// The longest `limits.timeout` of the apps served now.
    pub(crate) fn longest_timeout(&self) -> Option<Duration> {
        self.current()
            .apps
            .iter()
            .filter_map(|a| a.spec.timeout)
            .max()
    }
}

/// An app [`ServeHandle::put`] serves now.
#[derive(Clone, Debug)]
pub struct Served {
    /// Things to tell the user that did not stop it.
    pub warnings: Vec<String>,
    /// Where its machine code came from.
    pub code: CodeSource,
}

/// Changes the apps of a server while it serves; cheap to clone.
#[derive(Clone)]
pub struct ServeHandle {
    pub(crate) apps: Arc<Apps>,
}

impl ServeHandle {
    /// Serves `app`, in place of the app of the same name if there is one:
    /// loads it (compiling or mapping cached code) with no lock held, then
    /// swaps the table. Requests already routed to the app it replaces
    /// finish there; the next ones go to the new one. Fails, changing
    /// nothing, when the app cannot be loaded or another app has its route.
    pub fn put(&self, app: ServeApp) -> Result<Served, ServeError> {
        // Checked before the work of loading, and again at the swap, which
        // is what counts when two changes race.
        self.check(&app)?;
        let (new, warnings) = LoadedApp::load(app)?;
        let new = Arc::new(new);
        let mut table = self.apps.current.write().unwrap_or_else(|p| p.into_inner());
        for other in table.apps.iter().filter(|a| a.name != new.name) {
            check_route(of_loaded(other), of_loaded(&new))?;
        }
        let mut apps: Vec<Arc<LoadedApp>> = table
            .apps
            .iter()
            .filter(|a| a.name != new.name)
            .cloned()
            .collect();
        apps.push(new.clone());
        *table = Arc::new(Table::new(apps));
        drop(table);
        let code = new.code;
        self.apps.clock.add(&[new]);
        Ok(Served { warnings, code })
    }

    /// Whether `app` could be served next to the apps served now (another
    /// app has its route).
    pub fn check(&self, app: &ServeApp) -> Result<(), ServeError> {
        let table = self.apps.current();
        for other in table.apps.iter().filter(|a| *a.name != app.name) {
            check_route(of_loaded(other), of_app(app))?;
        }
        Ok(())
    }

    /// Stops serving the app named `name`; its requests in flight finish.
    /// Whether it was served.
    pub fn remove(&self, name: &str) -> bool {
        let mut table = self.apps.current.write().unwrap_or_else(|p| p.into_inner());
        if table.named(name).is_none() {
            return false;
        }
        let apps = table
            .apps
            .iter()
            .filter(|a| &*a.name != name)
            .cloned()
            .collect();
        *table = Arc::new(Table::new(apps));
        true
    }

    /// Joins a cluster: routes not served here go to `elsewhere`, and
    /// every response names this server `node`. `None` leaves it.
    pub fn set_elsewhere(&self, joined: Option<(Arc<dyn Elsewhere>, &str)>) {
        let (elsewhere, node) = match joined {
            Some((e, name)) => (Some(e), http::HeaderValue::from_str(name).ok()),
            None => (None, None),
        };
        *self
            .apps
            .elsewhere
            .write()
            .unwrap_or_else(|p| p.into_inner()) = elsewhere;
        *self.apps.node.write().unwrap_or_else(|p| p.into_inner()) = node;
    }

    /// Each route and the app behind it.
    pub fn routes(&self) -> Vec<(String, String)> {
        self.apps.current().routes()
    }

    /// The longest `limits.timeout` of the apps served now: how long a
    /// request in flight may still take.
    pub fn longest_timeout(&self) -> Option<Duration> {
        self.apps.longest_timeout()
    }

    /// Requests routed to each app served now, since it was put in.
    pub fn requests(&self) -> Vec<(String, u64)> {
        self.apps
            .current()
            .apps
            .iter()
            .map(|a| (a.name.to_string(), a.requests.load(Ordering::Relaxed)))
            .collect()
    }
}

fn check_unique(apps: &[ServeApp]) -> Result<(), ServeError> {
    for (i, app) in apps.iter().enumerate() {
        for earlier in &apps[..i] {
            if earlier.name == app.name {
                return Err(ServeError::DuplicateName {
                    name: app.name.clone(),
                    first: label(&earlier.name, &earlier.spec),
                    second: label(&app.name, &app.spec),
                });
            }
            check_route(of_app(earlier), of_app(app))?;
        }
    }
    Ok(())
}

/// How errors name an app: its name and its file.
fn label(name: &str, spec: &RunSpec) -> String {
    format!("{name} ({})", spec.wasm.display())
}

/// An app as the checks of routes see it: name, spec, route.
type Entry<'a> = (&'a str, &'a RunSpec, &'a str);

fn of_app(app: &ServeApp) -> Entry<'_> {
    (&app.name, &app.spec, &app.http.route)
}

fn of_loaded(app: &LoadedApp) -> Entry<'_> {
    (&app.name, app.spec(), &app.http.route)
}

/// `second` may not take the route of `first`.
fn check_route(first: Entry, second: Entry) -> Result<(), ServeError> {
    if first.2 == second.2 {
        return Err(ServeError::DuplicateRoute {
            route: second.2.to_string(),
            first: label(first.0, first.1),
            second: label(second.0, second.1),
        });
    }
    Ok(())
}
