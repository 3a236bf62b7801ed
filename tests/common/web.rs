//! A signed-in browser session without a browser: cookies and CSRF tokens
//! handled the way a browser's form posts would carry them.

use super::{TestApp, PASSWORD};

pub struct Web {
    pub client: reqwest::Client,
    pub base: String,
    pub cookie: String,
    pub csrf: String,
}

pub struct Answer {
    pub status: u16,
    pub location: Option<String>,
    pub headers: reqwest::header::HeaderMap,
    pub body: String,
}

/// The value of the first `name="csrf"` hidden field on a page.
pub fn csrf_in(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(html[at..].split('"').next()?.to_owned())
}

/// `name=value` of a `Set-Cookie` header named `name`.
pub fn set_cookie(headers: &reqwest::header::HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn answer(r: reqwest::Response) -> Answer {
    Answer {
        status: r.status().as_u16(),
        location: r
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned),
        headers: r.headers().clone(),
        body: r.text().await.unwrap_or_default(),
    }
}

impl Web {
    /// Sign in through the login form as `email`.
    pub async fn login_as(app: &TestApp, email: &str) -> Web {
        let client = no_redirects();
        let form = client.get(app.url("/login")).send().await.unwrap();
        assert_eq!(form.status().as_u16(), 200);
        let login_cookie = set_cookie(form.headers(), "pebble_login").expect("login cookie");
        let pair = login_cookie.split(';').next().unwrap().to_owned();
        let token = csrf_in(&form.text().await.unwrap()).expect("login csrf");
        let r = client
            .post(app.url("/login"))
            .header(reqwest::header::COOKIE, pair)
            .form(&[
                ("csrf", token.as_str()),
                ("email", email),
                ("password", PASSWORD),
                ("next", "/"),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 303, "login as {email}");
        let session = set_cookie(r.headers(), "pebble_session").expect("session cookie");
        let cookie = session.split(';').next().unwrap().to_owned();
        let mut web = Web {
            client,
            base: format!("http://{}", app.addr),
            cookie,
            csrf: String::new(),
        };
        let home = web.get("/").await;
        assert_eq!(home.status, 200, "home after login as {email}");
        web.csrf = csrf_in(&home.body).expect("a csrf field on every signed-in page");
        web
    }

    /// Sign in as the test user of `role`.
    pub async fn login(app: &TestApp, role: pebble_core::access::Role) -> Web {
        Web::login_as(app, &format!("{}@test.in", role.as_str().replace('_', "-"))).await
    }

    pub async fn get(&self, path: &str) -> Answer {
        answer(
            self.client
                .get(format!("{}{path}", self.base))
                .header(reqwest::header::COOKIE, &self.cookie)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// A form post carrying the session's CSRF token.
    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        let mut fields = vec![("csrf", self.csrf.as_str())];
        fields.extend_from_slice(form);
        self.post_raw(path, &fields).await
    }

    /// A form post exactly as given (no token added).
    pub async fn post_raw(&self, path: &str, form: &[(&str, &str)]) -> Answer {
        answer(
            self.client
                .post(format!("{}{path}", self.base))
                .header(reqwest::header::COOKIE, &self.cookie)
                .form(form)
                .send()
                .await
                .unwrap(),
        )
        .await
    }

    /// A form post whose response is a file.
    pub async fn post_bytes(&self, path: &str, form: &[(&str, &str)]) -> (u16, Vec<u8>) {
        let mut fields = vec![("csrf", self.csrf.as_str())];
        fields.extend_from_slice(form);
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header(reqwest::header::COOKIE, &self.cookie)
            .form(&fields)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.bytes().await.unwrap().to_vec())
    }
}
