//! The pages in a real browser (issue 10): headless Chromium driven over WebDriver
//! (chromedriver) signs in as a citizen, books and cancels an appointment, opens a signed
//! document, grants and revokes a consent; then as a doctor finds the patient and opens the
//! integrated-record timeline. A screenshot of each main page is saved under
//! `target/web-screenshots/` (or `ZDRAV_SCREENSHOTS`). Without Chromium and chromedriver
//! (Debian: `chromium`, `chromium-driver`) the test says SKIPPED, unless
//! `ZDRAV_REQUIRE_BROWSER=1` (CI) makes it mandatory.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{free_port, Server};
use fantoccini::{Client, ClientBuilder, Locator};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn browser_available() -> bool {
    let ok = Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists();
    if !ok && std::env::var("ZDRAV_REQUIRE_BROWSER").as_deref() == Ok("1") {
        panic!("ZDRAV_REQUIRE_BROWSER=1 but {CHROMIUM} or {CHROMEDRIVER} is missing");
    }
    ok
}

/// chromedriver on a free port, stopped on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn driver() -> Driver {
    let port = free_port();
    let child = Command::new(CHROMEDRIVER)
        .arg(format!("--port={port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "chromedriver did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    Driver { child, url }
}

fn screenshots() -> PathBuf {
    let dir = std::env::var("ZDRAV_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/web-screenshots")
        });
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn browser(driver: &Driver, profile: &Path) -> Client {
    // Two TLS back-ends are linked into the tests; the WebDriver client needs one chosen.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut caps = serde_json::Map::new();
    // The flags the machine needs: no sandbox as root, and no background connections (the
    // network is closed, and they slow every start).
    caps.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({"binary": CHROMIUM, "args": [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--window-size=1280,1000",
            format!("--user-data-dir={}", profile.display())]}),
    );
    ClientBuilder::rustls()
        .expect("a WebDriver client")
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("connect to chromedriver")
}

/// A page step: what the browser shows, checked and photographed.
struct Steps {
    c: Client,
    root: String,
    shots: PathBuf,
}

impl Steps {
    async fn open(&self, path: &str) {
        self.c.goto(&format!("{}{path}", self.root)).await.unwrap();
    }

    /// The text of the page's main part once it says `words`: a click that submits a form
    /// returns before the next page has loaded, so the page is read until it does (10 s).
    async fn expect(&self, words: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut last = String::new();
        while Instant::now() < deadline {
            if let Ok(main) = self.c.find(Locator::Css("main")).await {
                if let Ok(t) = main.text().await {
                    if t.contains(words) {
                        return t;
                    }
                    last = t;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("the page lacks «{words}»:\n{last}");
    }

    /// Checks what a screen reader and a keyboard need on the current page: Russian as the
    /// page language, one main heading, a label for every visible form control, a name for
    /// every button and link, and no positive tabindex reordering the keyboard path.
    async fn accessible(&self, name: &str) {
        let problems = self
            .c
            .execute(
                r#"const p = [];
                if (document.documentElement.lang !== 'ru') p.push('lang is not ru');
                if (document.querySelectorAll('h1').length !== 1) p.push('not one h1');
                for (const e of document.querySelectorAll('input, select, textarea')) {
                  if (e.type === 'hidden') continue;
                  if (!(e.labels && e.labels.length) && !e.getAttribute('aria-label')) p.push('no label: ' + (e.name || e.id));
                }
                for (const e of document.querySelectorAll('button, a')) {
                  if (!(e.innerText || '').trim() && !e.getAttribute('aria-label')) p.push('no name: ' + e.outerHTML.slice(0, 60));
                }
                for (const e of document.querySelectorAll('[tabindex]')) {
                  if (parseInt(e.getAttribute('tabindex'), 10) > 0) p.push('positive tabindex');
                }
                return p;"#,
                vec![],
            )
            .await
            .unwrap();
        assert_eq!(problems, serde_json::json!([]), "{name}: accessibility");
    }

    async fn shot(&self, name: &str) {
        self.accessible(name).await;
        let png = self.c.screenshot().await.unwrap();
        assert!(png.starts_with(b"\x89PNG"), "{name} is not a PNG");
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    async fn fill(&self, css: &str, value: &str) {
        let e = self.c.wait().for_element(Locator::Css(css)).await.unwrap();
        e.clear().await.unwrap();
        e.send_keys(value).await.unwrap();
    }

    async fn click(&self, css: &str) {
        self.c
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    async fn link(&self, text: &str) {
        self.c
            .wait()
            .for_element(Locator::LinkText(text))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
    }

    async fn choose(&self, css: &str, label: &str) {
        self.c
            .wait()
            .for_element(Locator::Css(css))
            .await
            .unwrap()
            .select_by_label(label)
            .await
            .unwrap();
    }

    async fn sign_in(&self, user: &str) {
        self.open("/login").await;
        self.fill("#username", user).await;
        self.fill("#password", user).await;
        self.click("form.card button[type=submit]").await;
    }

    async fn sign_out(&self) {
        self.click("form.who button").await;
        self.expect("Сервер zdrav").await;
    }
}

#[test]
fn citizen_and_doctor_in_chromium() {
    if !browser_available() {
        eprintln!("\n*** SKIPPED: Chromium and chromedriver not installed (apt install chromium chromium-driver) ***\n");
        return;
    }
    let s = Server::start_with(&["--demo", "--with-auth"]);
    let d = driver();
    let profile = tempfile::tempdir().unwrap();
    let shots = screenshots();
    let root = s.root.clone();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let c = browser(&d, profile.path()).await;
        let p = Steps { c, root, shots };
        // The start page.
        p.open("/").await;
        p.expect("«Мое здоровье»").await;
        p.expect("Демонстрационные пользователи").await;
        p.shot("01-start").await;

        // A citizen signs in with the keyboard alone (Tab to the password, Enter to submit)
        // and lands on «Мое здоровье».
        p.open("/login").await;
        p.accessible("login").await;
        p.c.find(Locator::Css("#username"))
            .await
            .unwrap()
            .send_keys("patient\u{E004}patient\u{E007}")
            .await
            .unwrap();
        p.expect("Смирнов Алексей Иванович").await;
        p.shot("02-portal").await;

        // Opens a signed document.
        p.link("Мои документы").await;
        p.expect("Протокол консультации").await;
        p.shot("03-documents").await;
        p.link("Протокол лабораторного исследования").await;
        let t = p.expect("Подпись действительна").await;
        assert!(
            t.contains("Гемоглобин") && t.contains("ОГРН 1027700132195"),
            "{t}"
        );
        p.shot("04-document").await;

        // Books the therapist and cancels.
        p.link("Запись к врачу").await;
        p.choose("#specialty", "Терапия").await;
        p.click("button[name=find]").await;
        p.expect("Свободное время на две недели").await;
        p.click("td form button").await;
        let t = p.expect("Вы записаны на приём.").await;
        assert!(t.contains("Иванова Мария Петровна, Терапия"), "{t}");
        p.shot("05-appointments").await;
        p.click("button.danger").await;
        let t = p.expect("Запись отменена.").await;
        assert!(t.contains("отменена"));

        // Grants the cardiologist access, then revokes it.
        p.link("Согласия").await;
        p.choose(
            "#actor",
            "Петров Сергей Николаевич — Кардиология, ГБУЗ «Городская клиническая больница № 5 ДЗМ»",
        )
        .await;
        p.click("form[action='/portal/consents'] button").await;
        let t = p.expect("Доступ к вашей карте открыт.").await;
        assert!(t.contains("действует"), "{t}");
        p.shot("06-consents").await;
        p.click("button.danger").await;
        let t = p.expect("Согласие отозвано").await;
        assert!(t.contains("отозвано"));

        p.link("Кто смотрел мою карту").await;
        p.expect("Кто смотрел мою карту").await;
        p.shot("07-access-log").await;

        // On a phone the pages fit the screen: nothing scrolls sideways.
        p.c.set_window_size(390, 844).await.unwrap();
        for (path, shot, words) in [
            (
                "/portal/appointments",
                "11-phone-appointments",
                "Мои записи",
            ),
            (
                "/portal/documents/doc-smirnov-lab",
                "12-phone-document",
                "Подпись действительна",
            ),
        ] {
            p.open(path).await;
            p.expect(words).await;
            let fits =
                p.c.execute(
                    "return document.documentElement.scrollWidth <= window.innerWidth",
                    vec![],
                )
                .await
                .unwrap();
            assert_eq!(
                fits,
                serde_json::json!(true),
                "{path} scrolls sideways on a phone"
            );
            p.shot(shot).await;
        }
        p.c.set_window_size(1280, 1000).await.unwrap();
        p.sign_out().await;

        // A doctor finds the patient and opens the timeline.
        p.sign_in("doctor").await;
        p.expect("Поиск пациента").await;
        p.fill("#family", "Смирнов").await;
        p.click("button[name=find]").await;
        p.expect("Найденные пациенты").await;
        p.shot("08-arm-search").await;
        p.link("Смирнов Алексей Иванович").await;
        let t = p.expect("Хронология").await;
        assert!(
            t.contains("Протокол консультации") && t.contains("Приём терапевта"),
            "{t}"
        );
        p.shot("09-arm-record").await;
        p.link("Расписание врачей").await;
        p.choose("#doctor", "Иванова Мария Петровна — Терапия")
            .await;
        p.click("form.card button").await;
        p.expect("Приём на").await;
        p.shot("10-arm-schedule").await;
        p.c.close().await.unwrap();
    });
    eprintln!("screenshots in {}", screenshots().display());
}
