//! Test points: with `QYVOL_TEST_HOLD=POINT` (or `POINT@APP`) in its
//! environment, the daemon stops at that point of a deploy, says so on
//! standard error (`qyv daemon: hold at POINT for APP`), and goes on when a
//! line arrives on its standard input. Tests use it to kill the daemon
//! (or send another request) at an exact moment, instead of guessing with
//! sleeps. Without the variable, every point is a no-op.
//!
//! Only a build with the `test-hold` feature has them: the end-to-end tests
//! turn it on (as a dev-dependency of `qyv`), and any other build, such as
//! `cargo install`, gets a [`Hold`] that does nothing and reads no variable.
//!
//! Points: `deploy:receiving` (half the upload is on disk), `deploy:locked`
//! (the app's deploy lock is held), `deploy:stored` (the bundle is in
//! place, its revision not yet recorded), `deploy:recorded` (the revision
//! is committed, the app not yet restarted).

#[cfg(feature = "test-hold")]
pub use points::{Hold, VARIABLE};

#[cfg(feature = "test-hold")]
mod points {
    use std::io::BufRead;
    use std::sync::Arc;

    use tokio::sync::{Mutex, mpsc};

    pub const VARIABLE: &str = "QYVOL_TEST_HOLD";

    #[derive(Clone, Default)]
    pub struct Hold {
        point: Option<(String, Option<String>)>,
        release: Option<Arc<Mutex<mpsc::UnboundedReceiver<()>>>>,
    }

    impl Hold {
        pub fn from_env() -> Hold {
            let Some(value) = qyvol_manifest::env::var(VARIABLE).and_then(|v| v.into_string().ok())
            else {
                return Hold::default();
            };
            let point = match value.split_once('@') {
                Some((p, app)) => (p.to_string(), Some(app.to_string())),
                None => (value, None),
            };
            let (tx, rx) = mpsc::unbounded_channel();
            std::thread::spawn(move || {
                for line in std::io::stdin().lock().lines() {
                    if line.is_err() || tx.send(()).is_err() {
                        break;
                    }
                }
            });
            Hold {
                point: Some(point),
                release: Some(Arc::new(Mutex::new(rx))),
            }
        }

        /// Waits here if the variable names this point (and app).
        pub async fn at(&self, point: &str, app: &str) {
            let (Some((p, only)), Some(release)) = (&self.point, &self.release) else {
                return;
            };
            if p != point || only.as_deref().is_some_and(|a| a != app) {
                return;
            }
            tracing::info!(point, app, "hold at {point} for {app}");
            release.lock().await.recv().await;
        }
    }
}

/// Without the feature: no points, nothing read, nothing to wait for.
#[cfg(not(feature = "test-hold"))]
#[derive(Clone, Default)]
pub struct Hold;

#[cfg(not(feature = "test-hold"))]
impl Hold {
    pub fn from_env() -> Hold {
        Hold
    }

    pub async fn at(&self, _point: &str, _app: &str) {}
}
