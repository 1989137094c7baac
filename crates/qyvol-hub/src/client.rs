//! A client of one repository in an OCI registry (the distribution API,
//! `/v2/…`): authentication (anonymous, basic, or a bearer token from the
//! registry's token service, as its `WWW-Authenticate` challenge says),
//! manifests and blobs up and down, every byte checked against its digest
//! and every size capped before it is read. Blocking HTTP on reqwest with
//! rustls, the stack the node's client uses.

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::{Client as Http, RequestBuilder, Response};
use reqwest::header::{
    ACCEPT, AUTHORIZATION, CONTENT_LENGTH, CONTENT_TYPE, LOCATION, RANGE, WWW_AUTHENTICATE,
};
use sha2::{Digest as _, Sha256};

use crate::challenge::{self, Challenge};
use crate::credentials::Credentials;
use crate::error::HubError;
use crate::hashing::{PieceHasher, fill};
use crate::media::ACCEPT_MANIFESTS;
use crate::reference::{api_host, is_loopback};

mod stream;

/// The largest manifest qyv reads (the distribution registry itself refuses
/// manifests over 4 MiB).
pub const MANIFEST_CAP: u64 = 4 << 20;
/// The largest token answer read from a token service.
const TOKEN_CAP: u64 = 1 << 20;
/// The largest error body read, for its message.
const ERROR_CAP: u64 = 64 << 10;

/// How to reach a registry.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// `None`: anonymous.
    pub credentials: Option<Credentials>,
    /// Plain HTTP. Loopback registries get it anyway (as Docker allows).
    pub plain_http: bool,
    /// Upload blobs larger than this in chunks of this size (`PATCH`);
    /// `None`: in one request.
    pub chunk_size: Option<u64>,
}

/// What the client may do in the repository; the bearer token asked for
/// names these actions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Pull,
    Push,
    /// The registry's list of repositories (`/v2/_catalog`).
    Catalog,
}

/// One repository of one registry, authenticated.
pub struct Repository {
    http: Http,
    /// `http(s)://host[:port]`.
    base: String,
    registry: String,
    repository: String,
    credentials: Option<Credentials>,
    /// The `Authorization` value, once the registry asked for one.
    authorization: Option<String>,
}

/// Bytes counted as they pass, for progress bars.
pub type Progress<'a> = &'a mut dyn FnMut(u64);

impl Repository {
    /// Connects: asks `/v2/` whether and how to authenticate, and does so.
    pub fn connect(
        registry: &str,
        repository: &str,
        access: Access,
        options: &Options,
    ) -> Result<Repository, HubError> {
        let plain = options.plain_http || is_loopback(registry);
        let scheme = if plain { "http" } else { "https" };
        let http = Http::builder()
            .connect_timeout(Duration::from_secs(10))
            // Blobs may be large and links slow: no overall deadline (the
            // blocking client has no per-read one).
            .timeout(None)
            .user_agent(concat!("qyv/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| HubError::Unreachable {
                registry: registry.to_string(),
                message: e.to_string(),
            })?;
        let mut repo = Repository {
            http,
            base: format!("{scheme}://{}", api_host(registry)),
            registry: registry.to_string(),
            repository: repository.to_string(),
            credentials: options.credentials.clone(),
            authorization: None,
        };
        repo.authenticate(access)?;
        Ok(repo)
    }

    pub fn registry(&self) -> &str {
        &self.registry
    }

    pub fn repository(&self) -> &str {
        &self.repository
    }

    fn authenticate(&mut self, access: Access) -> Result<(), HubError> {
        let url = format!("{}/v2/", self.base);
        let r = self.send(self.http.get(&url))?;
        match r.status() {
            s if s.is_success() => return Ok(()),
            StatusCode::UNAUTHORIZED => {}
            s => {
                return Err(HubError::Protocol {
                    registry: self.registry.clone(),
                    message: format!(
                        "{url} answered {s}, not 200 or 401: is this an OCI registry (the distribution API at /v2/)?"
                    ),
                });
            }
        }
        let header = r
            .headers()
            .get(WWW_AUTHENTICATE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        match challenge::parse(&header) {
            Some(Challenge::Basic) => {
                let Some(creds) = &self.credentials else {
                    return Err(self.login_needed("basic authentication"));
                };
                self.authorization = Some(creds.basic());
                // Checked here, so that a wrong password is told before an
                // upload starts.
                let r = self.send(self.http.get(&url))?;
                if r.status() == StatusCode::UNAUTHORIZED {
                    return Err(self.refused());
                }
                Ok(())
            }
            Some(Challenge::Bearer { realm, service, .. }) => {
                let token = self.token(&realm, service.as_deref(), access)?;
                self.authorization = Some(format!("Bearer {token}"));
                Ok(())
            }
            None => Err(HubError::Unauthorized {
                registry: self.registry.clone(),
                message: format!(
                    "the registry asks for authentication qyv does not speak (WWW-Authenticate: {header:?}); qyv speaks Basic and Bearer (token) authentication"
                ),
            }),
        }
    }

    /// A bearer token from the registry's token service (RFC 6750 as the
    /// distribution registry's token spec uses it), with the credentials
    /// when there are any.
    fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        access: Access,
    ) -> Result<String, HubError> {
        let scope = match access {
            Access::Pull => format!("repository:{}:pull", self.repository),
            Access::Push => format!("repository:{}:pull,push", self.repository),
            Access::Catalog => "registry:catalog:*".to_string(),
        };
        let mut query: Vec<(&str, &str)> = vec![("scope", &scope)];
        if let Some(s) = service {
            query.push(("service", s));
        }
        let mut request = self.http.get(realm).query(&query);
        if let Some(c) = &self.credentials {
            request = request.basic_auth(&c.username, Some(&c.password));
        }
        let r = request.send().map_err(|e| self.unreachable(realm, e))?;
        match r.status() {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN if self.credentials.is_some() => {
                return Err(self.refused());
            }
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                return Err(self.login_needed("a token"));
            }
            s => {
                return Err(HubError::Protocol {
                    registry: self.registry.clone(),
                    message: format!("its token service {realm} answered {s}"),
                });
            }
        }
        let body = read_capped(r, TOKEN_CAP, &self.registry, "the token service's answer")?;
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| HubError::Protocol {
                registry: self.registry.clone(),
                message: format!(
                    "its token service {realm} answered something that is not JSON ({e})"
                ),
            })?;
        v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| HubError::Protocol {
                registry: self.registry.clone(),
                message: format!("its token service {realm} gave no token"),
            })
    }

    fn login_needed(&self, what: &str) -> HubError {
        HubError::Unauthorized {
            registry: self.registry.clone(),
            message: format!(
                "the registry requires a login for {} (401 Unauthorized, {what})",
                self.repository
            ),
        }
    }

    fn refused(&self) -> HubError {
        let user = self
            .credentials
            .as_ref()
            .map(|c| c.username.as_str())
            .unwrap_or("");
        HubError::Unauthorized {
            registry: self.registry.clone(),
            message: format!(
                "the registry refused the credentials of user {user:?} (401 Unauthorized): wrong user name or password (or an expired token)"
            ),
        }
    }

    fn unreachable(&self, url: &str, e: reqwest::Error) -> HubError {
        // The innermost cause says it best ("Connection refused (os error
        // 111)", "dns error: …"); reqwest's outer layers repeat the URL.
        let mut cause = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(s) = source {
            cause = s.to_string();
            source = s.source();
        }
        let message = if e.is_timeout() {
            format!("{url}: the registry did not answer in time")
        } else if e.is_connect() {
            format!(
                "cannot connect to {url} ({cause}); is the registry running, and is the address right?"
            )
        } else {
            format!("{url}: {cause}")
        };
        HubError::Unreachable {
            registry: self.registry.clone(),
            message,
        }
    }

    fn send(&self, mut request: RequestBuilder) -> Result<Response, HubError> {
        if let Some(a) = &self.authorization {
            request = request.header(AUTHORIZATION, a);
        }
        let built = request.build().map_err(|e| HubError::Protocol {
            registry: self.registry.clone(),
            message: e.to_string(),
        })?;
        let url = built.url().to_string();
        self.http
            .execute(built)
            .map_err(|e| self.unreachable(&url, e))
    }

    /// The error for an answer that is not a success.
    fn failure(&self, r: Response, what: &str, action: &str) -> HubError {
        let status = r.status();
        let body = read_capped(r, ERROR_CAP, &self.registry, "an error").unwrap_or_default();
        let detail = error_text(&body);
        match status {
            StatusCode::UNAUTHORIZED if self.credentials.is_some() => self.refused(),
            StatusCode::UNAUTHORIZED => self.login_needed(action),
            StatusCode::FORBIDDEN => HubError::Denied {
                registry: self.registry.clone(),
                repository: self.repository.clone(),
                action: action.to_string(),
            },
            StatusCode::NOT_FOUND => HubError::NotFound {
                registry: self.registry.clone(),
                repository: self.repository.clone(),
                what: what.to_string(),
            },
            s => HubError::Protocol {
                registry: self.registry.clone(),
                message: format!("{action} {what} in {}: {s}{detail}", self.repository),
            },
        }
    }

    fn url(&self, tail: &str) -> String {
        format!("{}/v2/{}/{tail}", self.base, self.repository)
    }

    /// The digest a tag points at now, asked with `HEAD` (no body); `None`
    /// when the registry does not say.
    pub fn resolve(&self, target: &str) -> Result<Option<String>, HubError> {
        let r = self.send(
            self.http
                .head(self.url(&format!("manifests/{target}")))
                .header(ACCEPT, ACCEPT_MANIFESTS),
        )?;
        if !r.status().is_success() {
            return Err(self.failure(r, &what_manifest(target), "pull"));
        }
        Ok(r.headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string))
    }

    /// A manifest by tag or digest: its media type and bytes, at most
    /// [`MANIFEST_CAP`]; by digest, checked against it.
    pub fn manifest(&self, target: &str) -> Result<(Option<String>, Vec<u8>, String), HubError> {
        let r = self.send(
            self.http
                .get(self.url(&format!("manifests/{target}")))
                .header(ACCEPT, ACCEPT_MANIFESTS),
        )?;
        if !r.status().is_success() {
            return Err(self.failure(r, &what_manifest(target), "pull"));
        }
        let media_type = r
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|t| t.split(';').next().unwrap_or(t).trim().to_string());
        let bytes = read_capped(
            r,
            MANIFEST_CAP,
            &self.registry,
            &format!("the manifest of {target}"),
        )?;
        let digest = sha256_digest(&bytes);
        if target.starts_with("sha256:") && digest != target {
            return Err(HubError::DigestMismatch {
                registry: self.registry.clone(),
                repository: self.repository.clone(),
                what: "the manifest".into(),
                expected: target.to_string(),
                actual: digest,
            });
        }
        Ok((media_type, bytes, digest))
    }

    /// Puts a manifest under a tag (or its digest); returns its digest.
    pub fn put_manifest(
        &self,
        target: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<String, HubError> {
        let digest = sha256_digest(&bytes);
        let r = self.send(
            self.http
                .put(self.url(&format!("manifests/{target}")))
                .header(CONTENT_TYPE, media_type)
                .body(bytes),
        )?;
        if !r.status().is_success() {
            return Err(self.failure(r, &what_manifest(target), "push to"));
        }
        Ok(digest)
    }

    /// Whether the repository has the blob already (then it is not sent).
    pub fn has_blob(&self, digest: &str) -> Result<bool, HubError> {
        let r = self.send(self.http.head(self.url(&format!("blobs/{digest}"))))?;
        match r.status() {
            s if s.is_success() => Ok(true),
            StatusCode::NOT_FOUND => Ok(false),
            _ => Err(self.failure(r, &format!("blob {digest}"), "push to")),
        }
    }

    /// Uploads a blob from memory.
    pub fn push_bytes(&self, digest: &str, bytes: Vec<u8>) -> Result<(), HubError> {
        let location = self.start_upload()?;
        let r = self.send(
            self.http
                .put(with_digest(&location, digest))
                .header(CONTENT_TYPE, "application/octet-stream")
                .body(bytes),
        )?;
        self.finished(r, digest)
    }

    /// Uploads a blob from a file of `size` bytes whose digest is known, in
    /// chunks of `chunk` bytes (`PATCH` with `Content-Range`), as a user
    /// asks for registries that cap the size of a request.
    pub fn push_chunks(
        &self,
        digest: &str,
        path: &Path,
        size: u64,
        chunk: u64,
        mut progress: impl FnMut(u64) + Send + 'static,
    ) -> Result<(), HubError> {
        let mut file = std::fs::File::open(path).map_err(|e| HubError::io(path, e))?;
        let mut location = self.start_upload()?;
        let mut start = 0u64;
        while start < size {
            let len = chunk.min(size - start);
            let mut part = Vec::with_capacity(len as usize);
            (&mut file)
                .take(len)
                .read_to_end(&mut part)
                .map_err(|e| HubError::io(path, e))?;
            if part.len() as u64 != len {
                return Err(HubError::io(
                    path,
                    std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "the file shrank while it was sent",
                    ),
                ));
            }
            let r = self.send(
                self.http
                    .patch(&location)
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header("Content-Range", format!("{start}-{}", start + len - 1))
                    .header(CONTENT_LENGTH, len)
                    .body(part),
            )?;
            if r.status() != StatusCode::ACCEPTED {
                return Err(self.failure(r, &format!("blob {digest}"), "push to"));
            }
            location = self.location(&r)?;
            start += len;
            progress(start);
        }
        let r = self.send(
            self.http
                .put(with_digest(&location, digest))
                .header(CONTENT_LENGTH, 0),
        )?;
        self.finished(r, digest)
    }

    fn start_upload(&self) -> Result<String, HubError> {
        let r = self.send(
            self.http
                .post(self.url("blobs/uploads/"))
                .header(CONTENT_LENGTH, 0),
        )?;
        if r.status() != StatusCode::ACCEPTED {
            return Err(self.failure(r, "an upload", "push to"));
        }
        self.location(&r)
    }

    fn location(&self, r: &Response) -> Result<String, HubError> {
        let loc = r
            .headers()
            .get(LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| HubError::Protocol {
                registry: self.registry.clone(),
                message: "an upload answer without a Location".into(),
            })?;
        Ok(
            if loc.starts_with("http://") || loc.starts_with("https://") {
                loc.to_string()
            } else {
                format!("{}{loc}", self.base)
            },
        )
    }

    fn finished(&self, r: Response, digest: &str) -> Result<(), HubError> {
        if r.status().is_success() {
            Ok(())
        } else {
            let status = r.status();
            let body = read_capped(r, ERROR_CAP, &self.registry, "an error").unwrap_or_default();
            if status == StatusCode::BAD_REQUEST
                && String::from_utf8_lossy(&body).contains("DIGEST_INVALID")
            {
                return Err(HubError::DigestMismatch {
                    registry: self.registry.clone(),
                    repository: self.repository.clone(),
                    what: "the uploaded blob (the file changed while it was sent?)".into(),
                    expected: digest.to_string(),
                    actual: "another digest, says the registry".into(),
                });
            }
            Err(HubError::Protocol {
                registry: self.registry.clone(),
                message: format!("push of blob {digest}: {status}{}", error_text(&body)),
            })
        }
    }

    /// Downloads a blob into `out`, checking its size and digest as the
    /// bytes pass; an error means `out` holds nothing to keep.
    pub fn fetch_blob(
        &self,
        digest: &str,
        size: u64,
        cap: u64,
        out: &mut dyn Write,
        progress: Progress<'_>,
    ) -> Result<(), HubError> {
        self.fetch_blob_after(digest, size, cap, None, out, progress)
    }

    /// As [`Repository::fetch_blob`], after the first bytes of the blob
    /// already held (`have`: their count and a reader of them): those are
    /// hashed, and only the rest is asked for (`Range`) and written to
    /// `out`. A registry that ignores the range sends the whole blob, whose
    /// first bytes are then skipped.
    pub fn fetch_blob_after(
        &self,
        digest: &str,
        size: u64,
        cap: u64,
        have: Option<(u64, &mut dyn Read)>,
        out: &mut dyn Write,
        progress: Progress<'_>,
    ) -> Result<(), HubError> {
        let what = format!("blob {digest}");
        if size > cap {
            return Err(HubError::TooLarge {
                registry: self.registry.clone(),
                what,
                size,
                cap,
            });
        }
        // The bytes are hashed on another thread while the next ones are
        // read and written (crate::hashing).
        let mut hasher = PieceHasher::new();
        let mut start = 0u64;
        if let Some((count, prefix)) = have {
            let mut prefix = prefix.take(count);
            loop {
                let mut piece = hasher.piece();
                let n = fill(&mut prefix, &mut piece)
                    .map_err(|e| HubError::io("(the store's partial download)", e))?;
                if n == 0 {
                    break;
                }
                start += n as u64;
                hasher.hash(piece, n);
            }
        }
        let mut request = self.http.get(self.url(&format!("blobs/{digest}")));
        if start > 0 {
            request = request.header(RANGE, format!("bytes={start}-"));
        }
        let r = self.send(request)?;
        if !r.status().is_success() {
            return Err(self.failure(r, &what, "pull"));
        }
        let skip = if r.status() == StatusCode::PARTIAL_CONTENT {
            0
        } else {
            start
        };
        if let Some(len) = r.content_length()
            && len + start - skip != size
        {
            return Err(HubError::Protocol {
                registry: self.registry.clone(),
                message: format!(
                    "{what} is {} bytes, but its manifest says {size}",
                    len + start - skip
                ),
            });
        }
        let mut reader = r.take(size - start + skip + 1);
        if skip > 0 {
            std::io::copy(&mut (&mut reader).take(skip), &mut std::io::sink()).map_err(|e| {
                HubError::Unreachable {
                    registry: self.registry.clone(),
                    message: format!("the download of {what} broke off: {e}"),
                }
            })?;
        }
        let mut seen = start;
        progress(seen);
        loop {
            let mut piece = hasher.piece();
            let n = fill(&mut reader, &mut piece).map_err(|e| HubError::Unreachable {
                registry: self.registry.clone(),
                message: format!("the download of {what} broke off after {seen} bytes: {e}"),
            })?;
            if n == 0 {
                break;
            }
            seen += n as u64;
            if seen > size {
                break;
            }
            out.write_all(&piece[..n])
                .map_err(|e| HubError::io("(the store)", e))?;
            hasher.hash(piece, n);
            progress(seen);
        }
        if seen != size {
            return Err(HubError::Protocol {
                registry: self.registry.clone(),
                message: format!(
                    "{what} sent {seen}{} bytes, but its manifest says {size}",
                    if seen > size { "+" } else { "" }
                ),
            });
        }
        let actual = hasher.finish();
        if actual != digest {
            return Err(HubError::DigestMismatch {
                registry: self.registry.clone(),
                repository: self.repository.clone(),
                what,
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(())
    }

    /// A blob's bytes, at most `cap` (a config).
    pub fn blob_bytes(&self, digest: &str, size: u64, cap: u64) -> Result<Vec<u8>, HubError> {
        let mut out = Vec::new();
        self.fetch_blob(digest, size, cap, &mut out, &mut |_| {})?;
        Ok(out)
    }

    /// The registry's repositories (`/v2/_catalog`, page after page as its
    /// `Link` headers lead, at most `limit`); `None` when the registry has
    /// no catalog open to this client (GHCR and Docker Hub have none).
    pub fn catalog(&self, limit: usize) -> Result<Option<Vec<String>>, HubError> {
        let mut out = Vec::new();
        let mut url = format!("{}/v2/_catalog?n=1000", self.base);
        loop {
            let r = self.send(self.http.get(&url))?;
            match r.status() {
                s if s.is_success() => {}
                StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::NOT_FOUND => {
                    return Ok(None);
                }
                _ => return Err(self.failure(r, "the catalog", "list")),
            }
            let next = r
                .headers()
                .get("link")
                .and_then(|v| v.to_str().ok())
                .and_then(next_link);
            let body = read_capped(r, MANIFEST_CAP, &self.registry, "the catalog")?;
            let v: serde_json::Value =
                serde_json::from_slice(&body).map_err(|e| HubError::Protocol {
                    registry: self.registry.clone(),
                    message: format!("a catalog that is not JSON ({e})"),
                })?;
            let Some(names) = v.get("repositories").and_then(|r| r.as_array()) else {
                return Ok(None);
            };
            out.extend(names.iter().filter_map(|n| n.as_str().map(str::to_string)));
            match next {
                Some(n) if out.len() < limit => {
                    url = if n.starts_with("http") {
                        n
                    } else {
                        format!("{}{n}", self.base)
                    }
                }
                _ => break,
            }
        }
        out.truncate(limit);
        Ok(Some(out))
    }

    /// The repository's tags (`/tags/list`).
    pub fn tags(&self) -> Result<Vec<String>, HubError> {
        let r = self.send(self.http.get(self.url("tags/list")))?;
        if !r.status().is_success() {
            return Err(self.failure(r, "the tag list", "list"));
        }
        let body = read_capped(r, MANIFEST_CAP, &self.registry, "the tag list")?;
        let v: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| HubError::Protocol {
                registry: self.registry.clone(),
                message: format!("a tag list that is not JSON ({e})"),
            })?;
        Ok(v.get("tags")
            .and_then(|t| t.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|t| t.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default())
    }
}

/// The target of a `Link: </v2/_catalog?last=x&n=1000>; rel="next"` header.
fn next_link(header: &str) -> Option<String> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params.contains("rel=\"next\"").then(|| {
            target
                .trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_string()
        })
    })
}

fn what_manifest(target: &str) -> String {
    if target.starts_with("sha256:") {
        format!("manifest {target}")
    } else {
        format!("tag {target}")
    }
}

fn with_digest(location: &str, digest: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={}", digest.replace(':', "%3A"))
}

/// `sha256:HEX` of some bytes.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A body read whole, refused before reading when its length says it is
/// over `cap`, and cut off (refused) when it turns out to be.
fn read_capped(r: Response, cap: u64, registry: &str, what: &str) -> Result<Vec<u8>, HubError> {
    let too_large = |size| HubError::TooLarge {
        registry: registry.to_string(),
        what: what.to_string(),
        size,
        cap,
    };
    if let Some(len) = r.content_length()
        && len > cap
    {
        return Err(too_large(len));
    }
    let mut out = Vec::new();
    r.take(cap + 1)
        .read_to_end(&mut out)
        .map_err(|e| HubError::Unreachable {
            registry: registry.to_string(),
            message: format!("reading {what}: {e}"),
        })?;
    if out.len() as u64 > cap {
        return Err(too_large(out.len() as u64));
    }
    Ok(out)
}

/// The registry's own words from an error body
/// (`{"errors":[{"code":…,"message":…}]}`), as ": CODE: message".
fn error_text(body: &[u8]) -> String {
    let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) else {
        return String::new();
    };
    let Some(errors) = v.get("errors").and_then(|e| e.as_array()) else {
        return String::new();
    };
    errors
        .iter()
        .map(|e| {
            format!(
                ": {}: {}",
                e.get("code").and_then(|c| c.as_str()).unwrap_or("?"),
                e.get("message").and_then(|c| c.as_str()).unwrap_or("")
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upload_locations_get_the_digest() {
        let d = "sha256:ab";
        assert_eq!(
            with_digest("http://r/v2/a/blobs/uploads/u", d),
            "http://r/v2/a/blobs/uploads/u?digest=sha256%3Aab"
        );
        assert_eq!(
            with_digest("http://r/u?_state=x", d),
            "http://r/u?_state=x&digest=sha256%3Aab"
        );
    }

    #[test]
    fn catalog_pages() {
        assert_eq!(
            next_link(r#"</v2/_catalog?last=b&n=2>; rel="next""#).as_deref(),
            Some("/v2/_catalog?last=b&n=2")
        );
        assert_eq!(next_link(r#"</x>; rel="prev""#), None);
    }

    #[test]
    fn registry_error_bodies() {
        let body =
            br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{}}]}"#;
        assert_eq!(error_text(body), ": MANIFEST_UNKNOWN: manifest unknown");
        assert_eq!(error_text(b"<html>"), "");
    }
}
