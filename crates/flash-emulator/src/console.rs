//! The local console: a small self-contained web page at `GET /emulator/console` showing the
//! app's endpoints, their workers, recent jobs with queue and execution times, and live logs.
//!
//! The page and its script hold no data and need no key; everything they show comes from the
//! key-protected JSON routes (`GET /emulator/state`, `GET /emulator/logs`), which the script
//! calls with `Authorization: Bearer KEY`. The key reaches the page in the URL *fragment*
//! (`/emulator/console#key=KEY`, what `flash run` prints): a browser never sends the fragment
//! to the server, so the key is in no request line, access log, proxy log or `Referer` header,
//! which a query parameter would be. The script keeps it in the tab's `sessionStorage` (so a
//! reload works and a new tab asks again) and takes it out of the address bar.
//!
//! No external assets (a Content-Security-Policy allows only this origin), and every value is
//! put into the page as text, never as markup: worker output is whatever a worker printed.

use axum::http::header;
use axum::response::{IntoResponse, Response};

/// The page.
pub const CONSOLE_PATH: &str = "/emulator/console";
/// Its script (served apart, so the policy needs no inline script).
pub const CONSOLE_SCRIPT_PATH: &str = "/emulator/console.js";

const PAGE: &str = include_str!("console/console.html");
const SCRIPT: &str = include_str!("console/console.js");

/// Only this origin, only for scripts, styles and the JSON routes; nothing framed or sent away.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; \
                      connect-src 'self'; img-src 'self' data:; base-uri 'none'; \
                      form-action 'none'; frame-ancestors 'none'";

/// The console URL for a base URL and key (what `flash run` prints).
pub fn console_url(base_url: &str, key: &runpod_flash::ApiKey) -> String {
    format!(
        "{}{CONSOLE_PATH}#key={}",
        base_url.trim_end_matches('/'),
        key.expose()
    )
}

fn reply(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, POLICY),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-store"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}

/// `GET /emulator/console`.
pub(crate) async fn page() -> Response {
    reply("text/html; charset=utf-8", PAGE)
}

/// `GET /emulator/console.js`.
pub(crate) async fn script() -> Response {
    reply("text/javascript; charset=utf-8", SCRIPT)
}
