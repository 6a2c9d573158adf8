//! Signing in and out. A session is a token of the built-in issuer in an HttpOnly cookie; the
//! pages check it on every request like the API checks a bearer token, so a session ends when
//! its token expires (eight hours: a working day) or the user signs out. Forms carry a token
//! derived from the session token (not stored anywhere), which a cross-site form cannot know.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine;
use sha2::Digest;
use zdrav_auth::{Principal, Role, TokenRequest};
use zdrav_server::smart::User;

use crate::view::{self, Chrome};
use crate::Web;

/// The session cookie's name.
pub const COOKIE: &str = "zdrav_session";

/// How long a session lasts.
const SESSION_TTL: Duration = Duration::from_secs(8 * 3600);

/// The OAuth client id the pages' tokens carry (seen in the audit trail).
pub const CLIENT_ID: &str = "zdrav-web";

/// A signed-in user of one request.
#[derive(Debug, Clone)]
pub struct Signed {
    /// Who the user is to the FHIR API.
    pub principal: Arc<Principal>,
    /// The name shown on the pages.
    pub name: String,
    /// The form token of this session.
    pub csrf: String,
}

impl Signed {
    /// The patient id of a citizen.
    pub fn patient(&self) -> Option<&str> {
        self.principal.patient.as_deref()
    }
}

/// The form token of a session token.
fn csrf_of(token: &str) -> String {
    let digest = sha2::Sha256::digest(format!("zdrav-web-form:{token}").as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest[..18])
}

fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v)
}

impl Web {
    /// The signed-in user of a request, if its session is valid.
    pub fn signed(&self, headers: &HeaderMap) -> Option<Signed> {
        let token = cookie_value(headers)?;
        let p = self.inner.security.verifier.verify(token).ok()?;
        let name = self
            .inner
            .users
            .iter()
            .find(|u| u.sub.as_deref().unwrap_or(&u.username) == p.sub)
            .and_then(|u| u.name.clone())
            .unwrap_or_else(|| p.sub.clone());
        Some(Signed {
            principal: Arc::new(p),
            name,
            csrf: csrf_of(token),
        })
    }

    /// The signed-in user if their role is one of `roles`; otherwise the answer to give: the
    /// sign-in page (coming back to `back`) or a refusal page.
    pub fn require(
        &self,
        headers: &HeaderMap,
        roles: &[Role],
        back: &str,
    ) -> Result<Signed, Response> {
        let Some(s) = self.signed(headers) else {
            let next: String = form_urlencoded::byte_serialize(back.as_bytes()).collect::<String>();
            return Err(Redirect::to(&format!("/login?next={next}")).into_response());
        };
        if !roles.contains(&s.principal.role) {
            return Err(view::message_page(
                StatusCode::FORBIDDEN,
                Chrome::new("Нет доступа", Some(&s)),
                "Этот раздел недоступен для вашей роли.",
            ));
        }
        Ok(s)
    }

    /// The fields of a POSTed form whose token matches the session; the refusal page if not.
    pub fn posted(&self, s: &Signed, body: &str) -> Result<crate::forms::Fields, Response> {
        let f = crate::forms::parse(body);
        self.check_form(s, crate::forms::first(&f, "csrf"))?;
        Ok(f)
    }

    /// Checks the form token of a POST; the refusal page if it does not match the session.
    pub fn check_form(&self, s: &Signed, token: Option<&str>) -> Result<(), Response> {
        if token == Some(s.csrf.as_str()) {
            return Ok(());
        }
        Err(view::message_page(
            StatusCode::FORBIDDEN,
            Chrome::new("Форма устарела", Some(s)),
            "Форма устарела или отправлена не с этой страницы. Откройте страницу заново и повторите.",
        ))
    }
}

/// Where a user goes after signing in, unless the sign-in came from a page.
fn home_of(role: Role) -> &'static str {
    match role {
        Role::Citizen => "/portal",
        _ => "/arm",
    }
}

/// Only local paths are followed after sign-in (an open redirect would help phishing).
fn safe_next(next: &str) -> Option<&str> {
    (next.starts_with('/') && !next.starts_with("//") && !next.contains('\\')).then_some(next)
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    page: Chrome,
    next: &'a str,
    username: &'a str,
    error: Option<&'a str>,
    demo_users: Vec<view::DemoUser>,
    no_users: bool,
}

fn login_page(
    web: &Web,
    status: StatusCode,
    next: &str,
    username: &str,
    error: Option<&str>,
) -> Response {
    let demo_users = if web.inner.demo {
        view::demo_users(&web.inner.users)
    } else {
        Vec::new()
    };
    view::html(
        status,
        LoginPage {
            page: Chrome::new("Вход", None),
            next,
            username,
            error,
            demo_users,
            no_users: web.inner.users.is_empty(),
        },
    )
}

/// `GET /login`.
pub async fn form(State(web): State<Web>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let next = crate::forms::first(&q, "next").unwrap_or("");
    login_page(&web, StatusCode::OK, next, "", None)
}

/// Failed sign-ins from one address within [`FAILURE_WINDOW`] before the form refuses it.
const MAX_FAILURES: u32 = 10;

/// The window failed sign-ins are counted in.
const FAILURE_WINDOW: Duration = Duration::from_secs(60);

/// Failed sign-ins per client address, so passwords cannot be guessed at speed.
#[derive(Default)]
pub struct Failures {
    by_address: std::sync::Mutex<HashMap<String, (u32, Instant)>>,
}

impl Failures {
    /// Whether `address` has used up its failures in the current window.
    fn blocked(&self, address: &str) -> bool {
        let map = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
        map.get(address)
            .is_some_and(|(n, since)| *n >= MAX_FAILURES && since.elapsed() < FAILURE_WINDOW)
    }

    /// Counts a failed sign-in of `address`.
    fn failed(&self, address: &str) {
        let mut map = self.by_address.lock().unwrap_or_else(|e| e.into_inner());
        // Old windows go, so the map holds only addresses seen in the last minute.
        map.retain(|_, (_, since)| since.elapsed() < FAILURE_WINDOW);
        let entry = map
            .entry(address.to_string())
            .or_insert((0, Instant::now()));
        entry.0 += 1;
    }
}

/// `POST /login`: checks the user's password and starts a session.
pub async fn sign_in(
    State(web): State<Web>,
    extensions: axum::http::Extensions,
    body: String,
) -> Response {
    let address = extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_default();
    if web.inner.failures.blocked(&address) {
        return view::message_page(
            StatusCode::TOO_MANY_REQUESTS,
            Chrome::new("Вход", None),
            "Слишком много неудачных попыток входа. Подождите минуту и попробуйте снова.",
        );
    }
    let f = crate::forms::parse(&body);
    let username = crate::forms::first(&f, "username").unwrap_or("").trim();
    let password = crate::forms::first(&f, "password").unwrap_or("");
    let next = crate::forms::first(&f, "next").unwrap_or("");
    if username.is_empty() || password.is_empty() {
        return login_page(
            &web,
            StatusCode::BAD_REQUEST,
            next,
            username,
            Some("Введите имя пользователя и пароль."),
        );
    }
    let Some(user) = web
        .inner
        .users
        .iter()
        .find(|u| u.username == username && same(&u.password, password))
    else {
        web.inner.failures.failed(&address);
        tracing::info!(username, %address, "web sign-in refused");
        return login_page(
            &web,
            StatusCode::UNAUTHORIZED,
            next,
            username,
            Some("Неверное имя пользователя или пароль."),
        );
    };
    match start_session(&web, user) {
        Ok((cookie, role)) => {
            let to = safe_next(next).unwrap_or(home_of(role));
            let mut r = Redirect::to(to).into_response();
            if let Ok(v) = HeaderValue::from_str(&cookie) {
                r.headers_mut().insert(header::SET_COOKIE, v);
            }
            r
        }
        Err(e) => {
            tracing::error!(username, error = %e, "cannot start a web session");
            view::message_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                Chrome::new("Вход", None),
                "Не удалось начать сеанс. Попробуйте ещё раз позже.",
            )
        }
    }
}

/// Compares two secrets in time independent of where they differ.
fn same(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The `Set-Cookie` value of a new session of `user`, and the user's role.
fn start_session(web: &Web, user: &User) -> Result<(String, Role), String> {
    let role: Role = user.role.parse()?;
    let (token, _) = web
        .inner
        .security
        .issuer
        .issue(&TokenRequest {
            sub: user.sub.clone().unwrap_or_else(|| user.username.clone()),
            role,
            scope: None,
            patient: user.patient.clone(),
            practitioner: user.practitioner.clone(),
            organization: user.organization.clone(),
            client_id: Some(CLIENT_ID.into()),
            fhir_user: user.fhir_user.clone(),
            ttl: SESSION_TTL,
        })
        .map_err(|e| e.to_string())?;
    let secure = if web.inner.ctx.base.starts_with("https:") {
        "; Secure"
    } else {
        ""
    };
    Ok((
        format!(
            "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
            SESSION_TTL.as_secs()
        ),
        role,
    ))
}

/// `POST /logout`: ends the session.
pub async fn sign_out() -> Response {
    let mut r = Redirect::to("/").into_response();
    r.headers_mut().insert(
        header::SET_COOKIE,
        HeaderValue::from_static("zdrav_session=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(safe_next("/portal/documents"), Some("/portal/documents"));
        assert_eq!(safe_next("//evil.example"), None);
        assert_eq!(safe_next("https://evil.example"), None);
        assert_eq!(safe_next("/\\evil.example"), None);
    }

    #[test]
    fn form_tokens_differ_per_session() {
        assert_ne!(csrf_of("a"), csrf_of("b"));
        assert_eq!(csrf_of("a"), csrf_of("a"));
        assert_eq!(csrf_of("a").len(), 24);
    }

    #[test]
    fn failures_block_one_address_only() {
        let f = Failures::default();
        for _ in 0..MAX_FAILURES - 1 {
            f.failed("10.0.0.1");
        }
        assert!(!f.blocked("10.0.0.1"));
        f.failed("10.0.0.1");
        assert!(f.blocked("10.0.0.1"));
        assert!(!f.blocked("10.0.0.2"));
    }

    #[test]
    fn secrets_compare_whole() {
        assert!(same("demo", "demo"));
        assert!(!same("demo", "demO"));
        assert!(!same("demo", "demo1"));
    }

    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; zdrav_session=tok; b=2"),
        );
        assert_eq!(cookie_value(&h), Some("tok"));
    }
}
