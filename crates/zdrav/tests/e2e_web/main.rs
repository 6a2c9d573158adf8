//! The Russian pages over HTTP (issue 10), against the real binary with `--demo`: signing in
//! and the role checks, what each page shows, every form's malformed input answered with a
//! Russian message (never a server error), the form token, a consent's effect on the doctor's
//! next page, an emergency access showing up in the citizen's log with its reason, and a
//! signed document registered through the workstation's upload form. The browser tests
//! (`e2e_web_browser`) click through the same pages in Chromium.

mod citizens;
mod clinicians;
#[path = "../common/mod.rs"]
mod common;

use common::Server;
use reqwest::blocking::{Client, Response};
use reqwest::redirect::Policy;

/// A signed-in browser without a browser: the session cookie and the form token.
pub(crate) struct Session {
    pub(crate) http: Client,
    pub(crate) root: String,
    pub(crate) cookie: String,
}

pub(crate) fn http() -> Client {
    Client::builder()
        .redirect(Policy::none())
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .unwrap()
}

pub(crate) fn sign_in(s: &Server, user: &str) -> Session {
    let r = http()
        .post(format!("{}/login", s.root))
        .form(&[("username", user), ("password", user)])
        .send()
        .unwrap();
    assert_eq!(r.status(), 303, "sign-in of {user}");
    let cookie = r
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_string();
    assert!(cookie.starts_with("zdrav_session="));
    let set = r.headers()["set-cookie"].to_str().unwrap();
    assert!(
        set.contains("HttpOnly") && set.contains("SameSite=Lax"),
        "{set}"
    );
    Session {
        http: http(),
        root: s.root.clone(),
        cookie,
    }
}

impl Session {
    pub(crate) fn get(&self, path: &str) -> Response {
        self.http
            .get(format!("{}{path}", self.root))
            .header("cookie", &self.cookie)
            .send()
            .unwrap()
    }

    pub(crate) fn page(&self, path: &str, status: u16) -> String {
        let r = self.get(path);
        assert_eq!(r.status(), status, "GET {path}");
        r.text().unwrap()
    }

    /// The form token of the session, read from a page.
    pub(crate) fn csrf(&self) -> String {
        let page = self.page("/", 200);
        let at = page.find("name=\"csrf\" value=\"").expect("a form token") + 19;
        page[at..at + 24].to_string()
    }

    pub(crate) fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        self.http
            .post(format!("{}{path}", self.root))
            .header("cookie", &self.cookie)
            .form(form)
            .send()
            .unwrap()
    }

    /// POSTs with the form token and follows the redirect; the page it lands on.
    pub(crate) fn submit(&self, path: &str, form: &[(&str, &str)]) -> (u16, String) {
        let csrf = self.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(form);
        let r = self.post(path, &all);
        let status = r.status().as_u16();
        if status == 303 {
            let to = r.headers()["location"].to_str().unwrap().to_string();
            return (303, self.page(&to, 200));
        }
        (status, r.text().unwrap())
    }
}

/// The text of the page's alert.
pub(crate) fn alert(page: &str) -> &str {
    let Some(at) = page.find("role=\"alert\">") else {
        return "";
    };
    let rest = &page[at + 13..];
    &rest[..rest.find('<').unwrap_or(rest.len())]
}
