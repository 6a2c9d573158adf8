//! The built-in SMART on FHIR authorization server: discovery
//! (`/.well-known/smart-configuration`), `/auth/authorize` (authorization code with PKCE S256,
//! behind a Russian sign-in page), `/auth/token` (`authorization_code`, and `client_credentials`
//! for confidential system clients) and `/auth/jwks`. Clients and users come from the
//! `--auth-config` file; production deployments put an external identity provider here instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Deserialize;
use serde_json::{json, Value};
use zdrav_auth::{pkce, Interaction, Role, Scope, Scopes, TokenRequest};

use crate::auth::Security;

/// How long an authorization code may wait for its exchange.
const CODE_TTL: Duration = Duration::from_secs(60);
/// Lifetime of issued access tokens.
const TOKEN_TTL: Duration = Duration::from_secs(3600);

/// A registered client.
#[derive(Debug, Clone, Deserialize)]
pub struct Client {
    /// `client_id`.
    pub client_id: String,
    /// Exact redirect URIs.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// A confidential client's secret; public clients (PKCE only) have none.
    #[serde(default)]
    pub client_secret: Option<String>,
    /// Scopes a confidential client gets with `client_credentials` (role `system`).
    #[serde(default)]
    pub system_scope: Option<String>,
}

/// A user of the built-in issuer (demo and test deployments).
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    /// Sign-in name.
    pub username: String,
    /// Password (the built-in issuer is for local and demo use; keep real users in the IdP).
    pub password: String,
    /// Role name.
    pub role: String,
    /// Subject; the username if absent.
    #[serde(default)]
    pub sub: Option<String>,
    /// Patient id (citizens).
    #[serde(default)]
    pub patient: Option<String>,
    /// Practitioner id.
    #[serde(default)]
    pub practitioner: Option<String>,
    /// Organisation id.
    #[serde(default)]
    pub organization: Option<String>,
    /// Display name for pages.
    #[serde(default)]
    pub name: Option<String>,
    /// Who the user is as a FHIR reference when it is not the patient: `RelatedPerson/ID` for
    /// a legal representative acting for `patient`.
    #[serde(default)]
    pub fhir_user: Option<String>,
}

/// The `--auth-config` file.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthConfig {
    /// Registered clients.
    #[serde(default)]
    pub clients: Vec<Client>,
    /// Users.
    #[serde(default)]
    pub users: Vec<User>,
}

impl AuthConfig {
    /// Reads and checks a config file: roles must be known, usernames and client ids unique.
    pub fn from_json(text: &str) -> Result<AuthConfig, String> {
        let c: AuthConfig = serde_json::from_str(text).map_err(|e| format!("auth config: {e}"))?;
        for u in &c.users {
            u.role
                .parse::<Role>()
                .map_err(|e| format!("auth config, user '{}': {e}", u.username))?;
        }
        let mut seen = std::collections::HashSet::new();
        for id in c
            .users
            .iter()
            .map(|u| &u.username)
            .chain(c.clients.iter().map(|c| &c.client_id))
        {
            if !seen.insert(id.clone()) {
                return Err(format!("auth config: '{id}' appears twice"));
            }
        }
        Ok(c)
    }
}

struct PendingCode {
    client_id: String,
    redirect_uri: String,
    challenge: String,
    user: User,
    scope: String,
    expires: Instant,
}

/// State of the authorization server.
pub struct Smart {
    security: Arc<Security>,
    config: AuthConfig,
    /// The server's root URL (`http://host:port`).
    root: String,
    codes: Mutex<HashMap<String, PendingCode>>,
}

/// The router for discovery and the OAuth endpoints.
pub fn router(security: Arc<Security>, config: AuthConfig, root: String) -> Router {
    let smart = Arc::new(Smart {
        security,
        config,
        root,
        codes: Mutex::new(HashMap::new()),
    });
    Router::new()
        .route("/.well-known/smart-configuration", get(discovery))
        .route("/fhir/.well-known/smart-configuration", get(discovery))
        .route(
            "/auth/authorize",
            get(authorize_page).post(authorize_submit),
        )
        .route("/auth/token", axum::routing::post(token))
        .route("/auth/jwks", get(jwks))
        .with_state(smart)
}

async fn discovery(State(s): State<Arc<Smart>>) -> Response {
    let body = json!({
        "issuer": s.security.issuer.iss(),
        "jwks_uri": format!("{}/auth/jwks", s.root),
        "authorization_endpoint": format!("{}/auth/authorize", s.root),
        "token_endpoint": format!("{}/auth/token", s.root),
        "grant_types_supported": ["authorization_code", "client_credentials"],
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "none"],
        "scopes_supported": ["openid", "fhirUser", "launch/patient", "patient/*.rs", "user/*.cruds", "system/*.cruds"],
        "capabilities": ["launch-standalone", "client-public", "client-confidential-symmetric",
                          "context-standalone-patient", "permission-v2", "permission-v1",
                          "permission-patient", "permission-user"],
    });
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn jwks(State(s): State<Arc<Smart>>) -> Response {
    let body = json!({"keys": [s.security.issuer.key().public_jwk()]});
    (
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

/// The parameters of an authorization request.
#[derive(Debug, Clone, Default, Deserialize)]
struct AuthorizeParams {
    #[serde(default)]
    response_type: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    scope: String,
    #[serde(default)]
    state: String,
    #[serde(default)]
    code_challenge: String,
    #[serde(default)]
    code_challenge_method: String,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// Checks an authorization request; `Some` is the answer to give instead. Errors about the
/// client or its redirect URI are shown, never redirected (the target is not trusted yet); the
/// others go back to the client's redirect URI.
fn check_request(s: &Smart, p: &AuthorizeParams) -> Option<Response> {
    let Some(client) = s.config.clients.iter().find(|c| c.client_id == p.client_id) else {
        return Some(page(
            StatusCode::BAD_REQUEST,
            "Неизвестное приложение",
            &format!("Приложение «{}» не зарегистрировано.", p.client_id),
            None,
        ));
    };
    if !client.redirect_uris.contains(&p.redirect_uri) {
        return Some(page(
            StatusCode::BAD_REQUEST,
            "Неверный адрес возврата",
            "Адрес возврата (redirect_uri) не зарегистрирован для этого приложения.",
            None,
        ));
    }
    let fail = |error: &str, description: &str| {
        Some(redirect(
            &p.redirect_uri,
            &[
                ("error", error),
                ("error_description", description),
                ("state", &p.state),
            ],
        ))
    };
    if p.response_type != "code" {
        return fail(
            "unsupported_response_type",
            "only response_type=code is supported",
        );
    }
    if p.code_challenge_method != "S256" || p.code_challenge.len() < 43 {
        return fail(
            "invalid_request",
            "PKCE is required: code_challenge with code_challenge_method=S256",
        );
    }
    if let Err(e) = Scopes::parse(&p.scope) {
        return fail("invalid_scope", &e);
    }
    None
}

async fn authorize_page(State(s): State<Arc<Smart>>, Query(p): Query<AuthorizeParams>) -> Response {
    check_request(&s, &p).unwrap_or_else(|| login_form(&p, None))
}

async fn authorize_submit(State(s): State<Arc<Smart>>, body: String) -> Response {
    let p: AuthorizeParams = serde_urlencoded_form(&body);
    if let Some(r) = check_request(&s, &p) {
        return r;
    }
    let (username, password) = (
        p.username.clone().unwrap_or_default(),
        p.password.clone().unwrap_or_default(),
    );
    if username.trim().is_empty() || password.is_empty() {
        return login_form(&p, Some("Введите имя пользователя и пароль."));
    }
    let Some(user) = s
        .config
        .users
        .iter()
        .find(|u| u.username == username && u.password == password)
    else {
        return login_form(&p, Some("Неверное имя пользователя или пароль."));
    };
    let scope = grant_scopes(user, &p.scope);
    let code = zdrav_auth::random_token(32);
    if let Ok(mut codes) = s.codes.lock() {
        let now = Instant::now();
        codes.retain(|_, c| c.expires > now);
        codes.insert(
            code.clone(),
            PendingCode {
                client_id: p.client_id.clone(),
                redirect_uri: p.redirect_uri.clone(),
                challenge: p.code_challenge.clone(),
                user: user.clone(),
                scope,
                expires: now + CODE_TTL,
            },
        );
    }
    redirect(&p.redirect_uri, &[("code", &code), ("state", &p.state)])
}

/// The requested scopes the user's role may hold (its default scopes decide); the role's
/// defaults when nothing is asked for. Non-resource scopes (`openid`, `launch/patient`, ...)
/// pass; `patient/` scopes need a patient in the user's context.
fn grant_scopes(user: &User, requested: &str) -> String {
    let Ok(role) = user.role.parse::<Role>() else {
        return String::new();
    };
    let allowed = Scopes::parse(role.default_scopes()).unwrap_or_default();
    if requested.trim().is_empty() {
        return role.default_scopes().to_string();
    }
    let all = [
        Interaction::Create,
        Interaction::Read,
        Interaction::Update,
        Interaction::Delete,
        Interaction::Search,
    ];
    requested
        .split_whitespace()
        .filter(|raw| match Scope::parse(raw) {
            Ok(None) => true,
            Ok(Some(s)) => {
                let rtype = s.rtype.clone().unwrap_or_else(|| "*".into());
                let needs_patient = s.context == zdrav_auth::ScopeContext::Patient;
                (!needs_patient || user.patient.is_some())
                    && all.iter().filter(|i| s.permits(&rtype, **i)).all(|i| {
                        allowed
                            .grant(&rtype, *i)
                            .is_some_and(|c| c >= s.context || needs_patient)
                    })
            }
            Err(_) => false,
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A token request (form body).
#[derive(Debug, Default, Deserialize)]
struct TokenParams {
    #[serde(default)]
    grant_type: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    redirect_uri: String,
    #[serde(default)]
    client_id: String,
    #[serde(default)]
    client_secret: Option<String>,
    #[serde(default)]
    code_verifier: String,
    #[serde(default)]
    scope: Option<String>,
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = json!({"error": error, "error_description": description});
    (
        status,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}

async fn token(State(s): State<Arc<Smart>>, headers: HeaderMap, body: String) -> Response {
    let mut p: TokenParams = serde_urlencoded_form(&body);
    // client_secret_basic
    if let Some((id, secret)) = basic_auth(&headers) {
        p.client_id = id;
        p.client_secret = Some(secret);
    }
    let Some(client) = s.config.clients.iter().find(|c| c.client_id == p.client_id) else {
        return oauth_error(StatusCode::UNAUTHORIZED, "invalid_client", "unknown client");
    };
    if let Some(secret) = &client.client_secret {
        if p.client_secret.as_deref() != Some(secret.as_str()) {
            return oauth_error(
                StatusCode::UNAUTHORIZED,
                "invalid_client",
                "the client secret is wrong",
            );
        }
    }
    let (req, context) = match p.grant_type.as_str() {
        "authorization_code" => {
            let pending = s.codes.lock().ok().and_then(|mut c| c.remove(&p.code));
            let Some(pending) = pending.filter(|c| c.expires > Instant::now()) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the code is unknown, used or expired",
                );
            };
            if pending.client_id != p.client_id || pending.redirect_uri != p.redirect_uri {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    "the code was issued to another client or redirect_uri",
                );
            }
            if let Err(e) = pkce::verify(&p.code_verifier, &pending.challenge) {
                return oauth_error(StatusCode::BAD_REQUEST, "invalid_grant", &e);
            }
            let u = pending.user;
            let role = u.role.parse::<Role>().unwrap_or(Role::Citizen);
            let req = TokenRequest {
                sub: u.sub.clone().unwrap_or_else(|| u.username.clone()),
                role,
                scope: Some(pending.scope.clone()),
                patient: u.patient.clone(),
                practitioner: u.practitioner.clone(),
                organization: u.organization.clone(),
                client_id: Some(client.client_id.clone()),
                fhir_user: u.fhir_user.clone(),
                ttl: TOKEN_TTL,
            };
            (req, u.patient)
        }
        "client_credentials" => {
            let (Some(_), Some(scope)) = (&client.client_secret, &client.system_scope) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "unauthorized_client",
                    "client_credentials needs a confidential client with system scopes",
                );
            };
            let req = TokenRequest {
                sub: client.client_id.clone(),
                role: Role::System,
                scope: Some(
                    p.scope
                        .clone()
                        .filter(|s| !s.is_empty())
                        .unwrap_or_else(|| scope.clone()),
                ),
                patient: None,
                practitioner: None,
                organization: None,
                client_id: Some(client.client_id.clone()),
                fhir_user: None,
                ttl: TOKEN_TTL,
            };
            (req, None)
        }
        other => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                &format!("grant_type '{other}' is not supported"),
            )
        }
    };
    match s.security.issuer.issue(&req) {
        Ok((token, claims)) => {
            let mut body = json!({"access_token": token, "token_type": "Bearer",
                "expires_in": TOKEN_TTL.as_secs(), "scope": claims.scope});
            if let Some(pid) = context {
                body["patient"] = Value::String(pid);
            }
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, "application/json"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                body.to_string(),
            )
                .into_response()
        }
        Err(e) => oauth_error(StatusCode::BAD_REQUEST, "invalid_scope", &e.to_string()),
    }
}

fn basic_auth(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine;
    let v = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let b = v.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (id, secret) = text.split_once(':')?;
    Some((id.to_string(), secret.to_string()))
}

/// A form body as a struct of optional strings (unknown fields ignored).
fn serde_urlencoded_form<T: for<'de> Deserialize<'de> + Default>(body: &str) -> T {
    let map: serde_json::Map<String, Value> = form_urlencoded::parse(body.as_bytes())
        .map(|(k, v)| (k.into_owned(), Value::String(v.into_owned())))
        .collect();
    serde_json::from_value(Value::Object(map)).unwrap_or_default()
}

fn redirect(uri: &str, params: &[(&str, &str)]) -> Response {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        if !v.is_empty() {
            q.append_pair(k, v);
        }
    }
    let sep = if uri.contains('?') { '&' } else { '?' };
    let location = format!("{uri}{sep}{}", q.finish());
    (StatusCode::FOUND, [(header::LOCATION, location)]).into_response()
}

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(status: StatusCode, title: &str, message: &str, form: Option<String>) -> Response {
    let html = format!(
        r#"<!doctype html><html lang="ru"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>{t} — zdrav</title>
<style>body{{font-family:system-ui,sans-serif;max-width:28rem;margin:2rem auto;padding:0 1rem;color:#111}}label{{display:block;margin-top:1rem}}input{{font-size:1rem;padding:.5rem;width:100%;box-sizing:border-box}}button{{margin-top:1.5rem;font-size:1rem;padding:.6rem 1.2rem;background:#0b5394;color:#fff;border:0;border-radius:4px}}.error{{color:#a00000;font-weight:600}}</style></head>
<body><main><h1>{t}</h1><p{cls} role="{role}">{m}</p>{f}</main></body></html>"#,
        t = esc(title),
        m = esc(message),
        cls = if form.is_some() && !message.is_empty() {
            r#" class="error""#
        } else {
            ""
        },
        role = if form.is_some() { "alert" } else { "status" },
        f = form.unwrap_or_default()
    );
    (status, Html(html)).into_response()
}

fn login_form(p: &AuthorizeParams, error: Option<&str>) -> Response {
    let hidden: String = [
        ("response_type", &p.response_type),
        ("client_id", &p.client_id),
        ("redirect_uri", &p.redirect_uri),
        ("scope", &p.scope),
        ("state", &p.state),
        ("code_challenge", &p.code_challenge),
        ("code_challenge_method", &p.code_challenge_method),
    ]
    .iter()
    .map(|(k, v)| format!(r#"<input type="hidden" name="{k}" value="{}">"#, esc(v)))
    .collect();
    let form = format!(
        r#"<p>Приложение «{client}» запрашивает доступ: <code>{scope}</code></p>
<form method="post" action="/auth/authorize">{hidden}
<label for="username">Имя пользователя</label><input id="username" name="username" autocomplete="username" required>
<label for="password">Пароль</label><input id="password" name="password" type="password" autocomplete="current-password" required>
<button type="submit">Войти</button></form>"#,
        client = esc(&p.client_id),
        scope = esc(&p.scope),
    );
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    page(status, "Вход в zdrav", error.unwrap_or(""), Some(form))
}
