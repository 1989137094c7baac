//! Which app answers a path: the one whose route is the longest prefix of
//! it, matched on whole segments (`/api` serves `/api` and `/api/x`, not
//! `/apix`).

/// Routes (normalised as the manifest writes them: `/` or `/a/b`) and the
/// index of the app behind each, longest first.
#[derive(Debug, Default)]
pub(crate) struct Router {
    routes: Vec<(String, usize)>,
}

impl Router {
    pub(crate) fn new(routes: impl IntoIterator<Item = (String, usize)>) -> Router {
        let mut routes: Vec<(String, usize)> = routes.into_iter().collect();
        routes.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
        Router { routes }
    }

    pub(crate) fn find(&self, path: &str) -> Option<usize> {
        self.routes
            .iter()
            .find(|(route, _)| matches(route, path))
            .map(|(_, app)| *app)
    }
}

pub(crate) fn matches(route: &str, path: &str) -> bool {
    if route == "/" {
        return true;
    }
    match path.strip_prefix(route) {
        Some(rest) => rest.is_empty() || rest.starts_with('/'),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_longest_prefix_wins_on_whole_segments() {
        let r = Router::new([
            ("/".to_string(), 0),
            ("/api".to_string(), 1),
            ("/api/v2".to_string(), 2),
        ]);
        assert_eq!(r.find("/"), Some(0));
        assert_eq!(r.find("/index.html"), Some(0));
        assert_eq!(r.find("/api"), Some(1));
        assert_eq!(r.find("/api/"), Some(1));
        assert_eq!(r.find("/api/v1/x"), Some(1));
        assert_eq!(r.find("/apix"), Some(0));
        assert_eq!(r.find("/api/v2"), Some(2));
        assert_eq!(r.find("/api/v2/users"), Some(2));
    }

    #[test]
    fn without_a_root_route_other_paths_match_nothing() {
        let r = Router::new([("/hello".to_string(), 0)]);
        assert_eq!(r.find("/hello/x"), Some(0));
        assert_eq!(r.find("/"), None);
        assert_eq!(r.find("/hell"), None);
    }
}
