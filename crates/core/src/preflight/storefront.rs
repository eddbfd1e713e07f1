//! The storefront half of the preflight, as pure functions of what was fetched: does the page
//! carry the Bloomreach SDK snippet, does its Content-Security-Policy (every header and every
//! `<meta http-equiv>` policy, which all apply) let the SDK load (`script-src`) and send
//! tracking (`connect-src`), and does an `integrity` attribute on the snippet match the SDK
//! file (reference bloomreach.md §8.2).
//!
//! The SDK loads from `<target>/js/exponea.min.js` (or `brweb.min.js`) and posts tracking to
//! `<target>/bulk`; `target` is the Bloomreach API host unless the project uses a custom
//! tracking domain. CSP is evaluated with the `content-security-policy` crate (the CSP Level 3
//! algorithms), the HTML is read with `scraper` (html5ever).

use base64::Engine as _;
use content_security_policy::{
    CheckResult, CspList, Destination, Element, Initiator, InlineCheckType, ParserMetadata,
    PolicyDisposition, PolicySource, Request, Violation,
};
use scraper::{Html, Selector};
use sha2::{Digest, Sha256, Sha384, Sha512};
use url::Url;

use super::{
    Check, Definition, Evidence, Outcome, STOREFRONT_CSP_CONNECT, STOREFRONT_CSP_SCRIPT,
    STOREFRONT_SNIPPET, STOREFRONT_SRI,
};

/// The file names the Bloomreach snippet loads (legacy SDK, Bloomreach Web SDK).
pub const SDK_FILES: [&str; 2] = ["exponea.min.js", "brweb.min.js"];

/// Where the SDK comes from and where it sends tracking.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SdkTarget {
    /// The SDK file, e.g. `https://api.exponea.com/js/exponea.min.js`.
    pub sdk_url: Url,
    /// The tracking endpoint the SDK posts to, `<target>/bulk`.
    pub tracking_url: Url,
}

impl SdkTarget {
    /// The target of an SDK URL: tracking goes to `/bulk` on the same host.
    pub fn from_sdk_url(sdk_url: Url) -> Self {
        let mut tracking_url = sdk_url.clone();
        tracking_url.set_path("/bulk");
        tracking_url.set_query(None);
        tracking_url.set_fragment(None);
        Self {
            sdk_url,
            tracking_url,
        }
    }

    /// The default target of a Bloomreach API base URL: `<base>/js/exponea.min.js`.
    pub fn for_api_base(base: &Url) -> Self {
        let mut sdk_url = base.clone();
        sdk_url.set_path("/js/exponea.min.js");
        sdk_url.set_query(None);
        sdk_url.set_fragment(None);
        Self::from_sdk_url(sdk_url)
    }
}

/// The SDK snippet as it appears on a page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// The `src` of a `<script src>` loading the SDK (resolved against the page); `None` for an
    /// inline bootstrap that loads it.
    pub src: Option<Url>,
    /// The `integrity` attribute.
    pub integrity: Option<String>,
    /// The `crossorigin` attribute.
    pub crossorigin: Option<String>,
    /// The `nonce` attribute.
    pub nonce: Option<String>,
    /// The inline bootstrap's text (for the inline CSP check).
    pub inline_text: Option<String>,
}

/// What a storefront page says about the SDK.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PageFacts {
    /// Every `<meta http-equiv="Content-Security-Policy" content>` value.
    pub meta_csp: Vec<String>,
    /// The SDK snippets (a `<script src>` of an SDK file, or an inline bootstrap naming one).
    pub snippets: Vec<Snippet>,
}

/// The elements matching `css` (a constant selector of this module; one that did not parse
/// would match nothing).
fn elements<'a>(document: &'a Html, css: &str) -> Vec<scraper::ElementRef<'a>> {
    match Selector::parse(css) {
        Ok(selector) => document.select(&selector).collect(),
        Err(_) => Vec::new(),
    }
}

fn names_sdk_file(text: &str) -> bool {
    SDK_FILES.iter().any(|file| text.contains(file))
}

/// Reads the page at `page_url`: its meta CSP and its SDK snippets.
pub fn read_page(page_url: &Url, html: &str) -> PageFacts {
    let document = Html::parse_document(html);
    let meta_csp = elements(&document, "meta")
        .into_iter()
        .filter(|meta| {
            meta.value()
                .attr("http-equiv")
                .is_some_and(|v| v.trim().eq_ignore_ascii_case("content-security-policy"))
        })
        .filter_map(|meta| meta.value().attr("content").map(str::to_owned))
        .collect();
    let base = elements(&document, "base[href]")
        .first()
        .and_then(|b| b.value().attr("href"))
        .and_then(|href| page_url.join(href).ok())
        .unwrap_or_else(|| page_url.clone());
    let mut snippets = Vec::new();
    for script in elements(&document, "script") {
        let attr = |name: &str| script.value().attr(name).map(str::to_owned);
        match script.value().attr("src") {
            Some(src) => {
                let Ok(src) = base.join(src.trim()) else {
                    continue;
                };
                let file = src.path().rsplit('/').next().unwrap_or("");
                if SDK_FILES.contains(&file) {
                    snippets.push(Snippet {
                        src: Some(src),
                        integrity: attr("integrity"),
                        crossorigin: attr("crossorigin"),
                        nonce: attr("nonce"),
                        inline_text: None,
                    });
                }
            }
            None => {
                let text: String = script.text().collect();
                if names_sdk_file(&text) {
                    snippets.push(Snippet {
                        src: None,
                        integrity: attr("integrity"),
                        crossorigin: attr("crossorigin"),
                        nonce: attr("nonce"),
                        inline_text: Some(text),
                    });
                }
            }
        }
    }
    PageFacts { meta_csp, snippets }
}

/// The enforced policies of a page: every `Content-Security-Policy` header value, then every
/// meta policy (`Content-Security-Policy-Report-Only` never blocks and is not read).
pub fn policies(header_values: &[String], meta_values: &[String]) -> CspList {
    let mut list = CspList(Vec::new());
    for value in header_values {
        list.append(CspList::parse(
            value,
            PolicySource::Header,
            PolicyDisposition::Enforce,
        ));
    }
    for value in meta_values {
        list.append(CspList::parse(
            value,
            PolicySource::Meta,
            PolicyDisposition::Enforce,
        ));
    }
    list
}

/// Whether a request is allowed, and by what it was blocked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CspVerdict {
    /// No enforced policy blocks it.
    pub allowed: bool,
    /// Each blocking directive: `script-src-elem 'self' (header policy)`.
    pub blocked_by: Vec<String>,
}

fn describe(violation: &Violation) -> String {
    let source = match violation.policy.source {
        PolicySource::Header => "header",
        PolicySource::Meta => "meta",
    };
    format!(
        "{} {} (from the {source} policy)",
        violation.directive.name,
        violation.directive.value.join(" ")
    )
}

fn request(
    page_url: &Url,
    url: &Url,
    destination: Destination,
    nonce: &str,
    integrity: &str,
    parser: ParserMetadata,
) -> Request {
    Request {
        url: url.clone(),
        current_url: url.clone(),
        origin: page_url.origin(),
        redirect_count: 0,
        destination,
        initiator: Initiator::None,
        nonce: nonce.to_owned(),
        integrity_metadata: integrity.to_owned(),
        parser_metadata: parser,
    }
}

/// Whether `csp` lets the page at `page_url` load the SDK from `sdk_url`, as `snippet` loads it:
/// a `<script src>` is parser-inserted and carries its own nonce and integrity; an inline
/// bootstrap must itself be allowed (inline script) and inserts the SDK script dynamically.
pub fn script_verdict(
    csp: &CspList,
    page_url: &Url,
    sdk_url: &Url,
    snippet: Option<&Snippet>,
) -> CspVerdict {
    let nonce = snippet.and_then(|s| s.nonce.as_deref()).unwrap_or("");
    let mut blocked_by = Vec::new();
    let parser = match snippet {
        Some(Snippet {
            src: None,
            inline_text: Some(text),
            ..
        }) => {
            let element = Element {
                nonce: (!nonce.is_empty()).then(|| nonce.into()),
            };
            let (result, violations) = csp.should_elements_inline_type_behavior_be_blocked(
                &element,
                InlineCheckType::Script,
                text,
            );
            if result == CheckResult::Blocked {
                blocked_by.extend(
                    violations
                        .iter()
                        .map(|v| format!("{} (the inline snippet itself)", describe(v))),
                );
            }
            ParserMetadata::NotParserInserted
        }
        _ => ParserMetadata::ParserInserted,
    };
    let integrity = snippet.and_then(|s| s.integrity.as_deref()).unwrap_or("");
    let (result, violations) = csp.should_request_be_blocked(&request(
        page_url,
        sdk_url,
        Destination::Script,
        nonce,
        integrity,
        parser,
    ));
    if result == CheckResult::Blocked {
        blocked_by.extend(violations.iter().map(describe));
    }
    CspVerdict {
        allowed: blocked_by.is_empty(),
        blocked_by,
    }
}

/// Whether `csp` lets the page at `page_url` send tracking to `tracking_url` (a fetch or
/// beacon, governed by `connect-src`).
pub fn connect_verdict(csp: &CspList, page_url: &Url, tracking_url: &Url) -> CspVerdict {
    let (result, violations) = csp.should_request_be_blocked(&request(
        page_url,
        tracking_url,
        Destination::None,
        "",
        "",
        ParserMetadata::None,
    ));
    let blocked_by: Vec<String> = if result == CheckResult::Blocked {
        violations.iter().map(describe).collect()
    } else {
        Vec::new()
    };
    CspVerdict {
        allowed: blocked_by.is_empty(),
        blocked_by,
    }
}

/// What an `integrity` attribute says about the SDK file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SriVerdict {
    /// No hash of a supported algorithm (none, or only unknown ones): the browser does not
    /// check, so the SDK loads.
    Unchecked,
    /// A hash of the strongest algorithm given matches.
    Matches {
        /// `sha256`, `sha384` or `sha512`.
        algorithm: &'static str,
    },
    /// No hash of the strongest algorithm given matches: the browser refuses the SDK.
    Mismatch {
        /// The hashes the attribute expects (of the strongest algorithm).
        expected: Vec<String>,
        /// What the SDK file hashes to with that algorithm.
        actual: String,
    },
}

/// The SRI hash algorithms, weakest first.
const ALGORITHMS: [&str; 3] = ["sha256", "sha384", "sha512"];

/// `<algorithm>-<base64 digest>` of `bytes`.
pub fn integrity_of(algorithm: &str, bytes: &[u8]) -> Option<String> {
    let digest = match algorithm {
        "sha256" => Sha256::digest(bytes).to_vec(),
        "sha384" => Sha384::digest(bytes).to_vec(),
        "sha512" => Sha512::digest(bytes).to_vec(),
        _ => return None,
    };
    Some(format!(
        "{algorithm}-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    ))
}

/// Checks `integrity` against the SDK file's bytes as a browser does (SRI §3.3.5): tokens of
/// unknown algorithms are ignored, only the strongest algorithm given counts, and any of its
/// hashes may match. Options after `?` are ignored.
pub fn check_integrity(integrity: &str, sdk: &[u8]) -> SriVerdict {
    let tokens: Vec<(usize, &str)> = integrity
        .split_ascii_whitespace()
        .filter_map(|token| {
            let token = token.split('?').next().unwrap_or(token);
            let (algorithm, value) = token.split_once('-')?;
            let rank = ALGORITHMS
                .iter()
                .position(|a| a.eq_ignore_ascii_case(algorithm))?;
            Some((rank, value))
        })
        .collect();
    let Some(strongest) = tokens.iter().map(|(rank, _)| *rank).max() else {
        return SriVerdict::Unchecked;
    };
    let algorithm = ALGORITHMS[strongest];
    let actual = integrity_of(algorithm, sdk).unwrap_or_default();
    let actual_value = actual.split_once('-').map_or("", |(_, v)| v);
    let expected: Vec<String> = tokens
        .iter()
        .filter(|(rank, _)| *rank == strongest)
        .map(|(_, value)| format!("{algorithm}-{value}"))
        .collect();
    if tokens
        .iter()
        .any(|(rank, value)| *rank == strongest && *value == actual_value)
    {
        SriVerdict::Matches { algorithm }
    } else {
        SriVerdict::Mismatch { expected, actual }
    }
}

/// A storefront page as fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchedPage {
    /// The page's URL (after redirects).
    pub url: Url,
    /// Its HTTP status.
    pub status: u16,
    /// Every `Content-Security-Policy` header value.
    pub csp_headers: Vec<String>,
    /// The body.
    pub html: String,
}

/// A storefront page that could not be fetched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageFailure {
    /// The URL asked for.
    pub url: Url,
    /// The status, when something answered.
    pub status: Option<u16>,
    /// What went wrong.
    pub reason: String,
}

/// The SDK file as fetched (for the integrity check), or why it could not be.
pub type SdkFile = Result<Vec<u8>, String>;

/// The four storefront checks of one page.
fn page_checks(page: &FetchedPage, target: &SdkTarget, sdk: &SdkFile) -> [Check; 4] {
    let facts = read_page(&page.url, &page.html);
    let csp = policies(&page.csp_headers, &facts.meta_csp);
    let status = Some(page.status);
    let evidence = |read: String| Evidence::of(status, None, format!("GET {}: {read}", page.url));
    let policy_text = if csp.0.is_empty() {
        "no Content-Security-Policy (header or meta)".to_owned()
    } else {
        format!(
            "{} header and {} meta polic(ies)",
            page.csp_headers.len(),
            facts.meta_csp.len()
        )
    };
    // The snippet the checks judge: the one loading the configured SDK host, else the first.
    let snippet = facts
        .snippets
        .iter()
        .find(|s| {
            s.src
                .as_ref()
                .is_some_and(|src| src.host_str() == target.sdk_url.host_str())
        })
        .or(facts.snippets.first());

    let snippet_check = match snippet {
        Some(s) => STOREFRONT_SNIPPET.pass(evidence(match &s.src {
            Some(src) => format!("the SDK loads from {src}"),
            None => "an inline Bloomreach snippet bootstraps the SDK".to_owned(),
        })),
        None => STOREFRONT_SNIPPET.fail(
            evidence(format!(
                "no <script> on the page loads or bootstraps the SDK ({})",
                SDK_FILES.join(" or ")
            )),
            "Add the Bloomreach Engagement snippet (Project settings › Access management › \
             Tracking code) to the storefront theme's <head>, before other scripts; without it \
             pre-login browsing and cookie-to-customer stitching are lost",
        ),
    };

    // Where the snippet loads the SDK from, when it names a URL; otherwise the configured one.
    let sdk_url = snippet
        .and_then(|s| s.src.clone())
        .unwrap_or_else(|| target.sdk_url.clone());
    let tracking_url = if snippet.and_then(|s| s.src.as_ref()).is_some() {
        SdkTarget::from_sdk_url(sdk_url.clone()).tracking_url
    } else {
        target.tracking_url.clone()
    };
    let script = script_verdict(&csp, &page.url, &sdk_url, snippet);
    let script_check = csp_check(
        STOREFRONT_CSP_SCRIPT,
        &script,
        evidence(format!("{policy_text}; loading {sdk_url} is")),
        format!(
            "Add {} to `script-src` in every Content-Security-Policy the storefront sends (the \
             response header and any <meta http-equiv> policy; a `default-src` without \
             `script-src` counts too). With a nonce-based policy, put the page's nonce on the \
             snippet's <script> and add 'strict-dynamic'",
            sdk_url.origin().ascii_serialization()
        ),
    );
    let connect = connect_verdict(&csp, &page.url, &tracking_url);
    let connect_check = csp_check(
        STOREFRONT_CSP_CONNECT,
        &connect,
        evidence(format!("{policy_text}; sending to {tracking_url} is")),
        format!(
            "Add {} to `connect-src` in every Content-Security-Policy the storefront sends \
             (header and meta; both apply, so the stricter one decides): the SDK posts its \
             tracking there",
            tracking_url.origin().ascii_serialization()
        ),
    );

    let sri_check = match snippet.and_then(|s| s.integrity.as_deref().map(|i| (s, i))) {
        None => STOREFRONT_SRI.pass(evidence(
            "no integrity attribute on the SDK snippet, so the browser checks none".to_owned(),
        )),
        Some((snippet, integrity)) => match sdk {
            Err(reason) => STOREFRONT_SRI.inconclusive(
                evidence(format!(
                    "integrity {integrity:?}; the SDK file {sdk_url} could not be fetched to \
                     compare: {reason}"
                )),
                "Check that this machine can reach the SDK URL (or pass `--sdk-url`), then run \
                 the preflight again",
            ),
            Ok(bytes) => {
                let cross_origin = sdk_url.origin() != page.url.origin();
                match check_integrity(integrity, bytes) {
                    SriVerdict::Unchecked => STOREFRONT_SRI.pass(evidence(format!(
                        "integrity {integrity:?} names no supported hash, so the browser checks none"
                    ))),
                    SriVerdict::Matches { algorithm }
                        if cross_origin && snippet.crossorigin.is_none() =>
                    {
                        STOREFRONT_SRI.fail(
                            evidence(format!(
                                "integrity {integrity:?} matches the {algorithm} of {sdk_url}, \
                                 but the cross-origin <script> has no crossorigin attribute, \
                                 so the browser cannot check it and refuses the SDK"
                            )),
                            "Add crossorigin=\"anonymous\" to the SDK <script>, or remove its \
                             integrity attribute",
                        )
                    }
                    SriVerdict::Matches { algorithm } => STOREFRONT_SRI.pass(evidence(format!(
                        "integrity {integrity:?} matches the {algorithm} of {sdk_url} ({} bytes)",
                        bytes.len()
                    ))),
                    SriVerdict::Mismatch { expected, actual } => STOREFRONT_SRI.fail(
                        evidence(format!(
                            "integrity expects {} but {sdk_url} ({} bytes) is {actual}, so the \
                             browser refuses the SDK",
                            expected.join(" or "),
                            bytes.len()
                        )),
                        format!(
                            "Remove the integrity attribute from the Bloomreach SDK <script>: \
                             Bloomreach updates the SDK file in place, so a pinned hash breaks \
                             on its next update. To pin today's file anyway, set \
                             integrity=\"{actual}\""
                        ),
                    ),
                }
            }
        },
    };
    [snippet_check, script_check, connect_check, sri_check]
}

/// A CSP check from its verdict: `evidence` reads "… is" and gets "allowed" or "blocked by …".
fn csp_check(
    definition: Definition,
    verdict: &CspVerdict,
    evidence: Evidence,
    fix: String,
) -> Check {
    if verdict.allowed {
        return definition.pass(Evidence {
            read: format!("{} allowed", evidence.read),
            ..evidence
        });
    }
    let read = format!(
        "{} blocked by {}",
        evidence.read,
        verdict.blocked_by.join("; ")
    );
    definition.fail(Evidence { read, ..evidence }, fix)
}

/// The four checks for a page that could not be fetched: nothing can be judged.
fn unreachable_checks(failure: &PageFailure) -> [Check; 4] {
    let read = format!("GET {}: {}", failure.url, failure.reason);
    let fix = "Check the storefront URL (pass `--storefront URL`) and that this machine can \
               reach it, then run the preflight again";
    [
        STOREFRONT_SNIPPET,
        STOREFRONT_CSP_SCRIPT,
        STOREFRONT_CSP_CONNECT,
        STOREFRONT_SRI,
    ]
    .map(|d| d.inconclusive(Evidence::of(failure.status, None, read.clone()), fix))
}

/// The storefront checks over every page: a check fails when it fails on any page, is
/// inconclusive when it is on some page and fails on none, and passes otherwise. The evidence
/// names every page; the fix is the first failing page's.
pub fn evaluate(
    pages: &[Result<FetchedPage, PageFailure>],
    target: &SdkTarget,
    sdk: &SdkFile,
) -> Vec<Check> {
    let per_page: Vec<[Check; 4]> = pages
        .iter()
        .map(|page| match page {
            Ok(page) => page_checks(page, target, sdk),
            Err(failure) => unreachable_checks(failure),
        })
        .collect();
    if per_page.is_empty() {
        let read = "no storefront page to read: BigCommerce named no secure_url and none was given";
        return [
            STOREFRONT_SNIPPET,
            STOREFRONT_CSP_SCRIPT,
            STOREFRONT_CSP_CONNECT,
            STOREFRONT_SRI,
        ]
        .map(|d| {
            d.inconclusive(
                Evidence::local(read),
                "Pass the storefront's URL with `--storefront URL`",
            )
        })
        .to_vec();
    }
    (0..4)
        .map(|i| {
            let checks: Vec<&Check> = per_page.iter().map(|p| &p[i]).collect();
            let rank = |o: Outcome| match o {
                Outcome::Pass => 0,
                Outcome::Inconclusive => 1,
                Outcome::Fail => 2,
            };
            let worst = checks
                .iter()
                .copied()
                .max_by_key(|c| rank(c.outcome))
                .unwrap_or(checks[0]);
            let read = checks
                .iter()
                .map(|c| c.evidence.read.as_str())
                .collect::<Vec<_>>()
                .join(" | ");
            Check {
                evidence: Evidence {
                    read,
                    ..worst.evidence.clone()
                },
                ..worst.clone()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(text: &str) -> Url {
        Url::parse(text).unwrap()
    }

    const SDK: &str = "https://api.exponea.com/js/exponea.min.js";

    fn page(csp_header: Option<&str>, head: &str) -> FetchedPage {
        FetchedPage {
            url: url("https://shop.example.com/"),
            status: 200,
            csp_headers: csp_header.map(str::to_owned).into_iter().collect(),
            html: format!("<!doctype html><html><head>{head}</head><body>shop</body></html>"),
        }
    }

    fn target() -> SdkTarget {
        SdkTarget::from_sdk_url(url(SDK))
    }

    fn outcome(checks: &[Check], id: &str) -> Outcome {
        checks.iter().find(|c| c.id == id).unwrap().outcome
    }

    #[test]
    fn the_page_is_read_for_meta_policies_and_the_snippet() {
        let facts = read_page(
            &url("https://shop.example.com/p/"),
            r#"<html><head>
              <meta http-equiv="content-security-policy" content="connect-src 'self'">
              <meta name="viewport" content="width=device-width">
              <script src="/theme.js"></script>
              <script src="https://api.exponea.com/js/exponea.min.js" integrity="sha384-abc" crossorigin="anonymous" nonce="n1"></script>
            </head></html>"#,
        );
        assert_eq!(facts.meta_csp, vec!["connect-src 'self'".to_owned()]);
        assert_eq!(facts.snippets.len(), 1);
        let snippet = &facts.snippets[0];
        assert_eq!(snippet.src.as_ref().map(Url::as_str), Some(SDK));
        assert_eq!(snippet.integrity.as_deref(), Some("sha384-abc"));
        assert_eq!(snippet.nonce.as_deref(), Some("n1"));

        let inline = read_page(
            &url("https://shop.example.com/"),
            "<script>!function(e,n){/* loads e.target + '/js/exponea.min.js' */}(document)</script>",
        );
        assert_eq!(inline.snippets.len(), 1);
        assert!(inline.snippets[0].src.is_none());
    }

    #[test]
    fn script_src_must_allow_the_sdk_host() {
        let snippet = format!(r#"<script src="{SDK}"></script>"#);
        let allowed = evaluate(
            &[Ok(page(
                Some("script-src 'self' https://*.exponea.com; connect-src 'self' https://api.exponea.com"),
                &snippet,
            ))],
            &target(),
            &Err("not needed".into()),
        );
        assert_eq!(
            outcome(&allowed, "storefront-csp-script-src"),
            Outcome::Pass
        );
        assert_eq!(
            outcome(&allowed, "storefront-csp-connect-src"),
            Outcome::Pass
        );
        assert_eq!(outcome(&allowed, "storefront-snippet"), Outcome::Pass);

        let blocked = evaluate(
            &[Ok(page(Some("default-src 'self'"), &snippet))],
            &target(),
            &Err("not needed".into()),
        );
        let check = blocked
            .iter()
            .find(|c| c.id == "storefront-csp-script-src")
            .unwrap();
        assert_eq!(check.outcome, Outcome::Fail);
        assert!(check.evidence.read.contains("'self'"), "{check:?}");
        assert!(check.evidence.read.contains("header policy"), "{check:?}");
        assert!(check.fix.contains("https://api.exponea.com"), "{check:?}");
        assert_eq!(check.evidence.status, Some(200));
    }

    #[test]
    fn a_meta_policy_applies_on_top_of_the_header() {
        let head = format!(
            r#"<meta http-equiv="Content-Security-Policy" content="connect-src 'self'"><script src="{SDK}"></script>"#
        );
        let checks = evaluate(
            &[Ok(page(
                Some("script-src https://api.exponea.com; connect-src https://api.exponea.com"),
                &head,
            ))],
            &target(),
            &Err("not needed".into()),
        );
        let connect = checks
            .iter()
            .find(|c| c.id == "storefront-csp-connect-src")
            .unwrap();
        assert_eq!(connect.outcome, Outcome::Fail, "{connect:?}");
        assert!(connect.evidence.read.contains("meta policy"), "{connect:?}");
        assert!(connect
            .evidence
            .read
            .contains("https://api.exponea.com/bulk"));
        assert_eq!(outcome(&checks, "storefront-csp-script-src"), Outcome::Pass);
    }

    #[test]
    fn no_policy_allows_everything_and_a_nonce_lets_the_snippet_through() {
        let snippet = format!(r#"<script src="{SDK}"></script>"#);
        let open = evaluate(&[Ok(page(None, &snippet))], &target(), &Err(String::new()));
        assert!(open.iter().all(|c| c.outcome == Outcome::Pass), "{open:?}");

        let nonced = format!(r#"<script nonce="r4nd0m" src="{SDK}"></script>"#);
        let csp = "script-src 'nonce-r4nd0m' 'strict-dynamic'; connect-src https://api.exponea.com";
        let checks = evaluate(
            &[Ok(page(Some(csp), &nonced))],
            &target(),
            &Err(String::new()),
        );
        assert_eq!(outcome(&checks, "storefront-csp-script-src"), Outcome::Pass);
        let other = evaluate(
            &[Ok(page(Some(csp), &snippet))],
            &target(),
            &Err(String::new()),
        );
        assert_eq!(outcome(&other, "storefront-csp-script-src"), Outcome::Fail);
    }

    #[test]
    fn integrity_values_are_the_base64_digests_browsers_compute() {
        // Known values (Python's hashlib and base64 give the same).
        assert_eq!(
            integrity_of("sha256", b"").as_deref(),
            Some("sha256-47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")
        );
        assert_eq!(
            integrity_of("sha384", b"alert(1)").as_deref(),
            Some("sha384-HT2E9NfWiuQ/w1PRai+hTyqW16NIoCGA/m8VQDUopfAtcz6YQjtsMmQd5uRbVDpW")
        );
        assert_eq!(integrity_of("md5", b""), None);
    }

    #[test]
    fn integrity_is_checked_with_the_strongest_algorithm_given() {
        let sdk = b"/* the sdk */".as_slice();
        let good384 = integrity_of("sha384", sdk).unwrap();
        let good256 = integrity_of("sha256", sdk).unwrap();
        assert!(good384.starts_with("sha384-"));
        assert_eq!(
            check_integrity(&good384, sdk),
            SriVerdict::Matches {
                algorithm: "sha384"
            }
        );
        assert_eq!(
            check_integrity(&format!("{good256} sha512-AAAA"), sdk),
            SriVerdict::Mismatch {
                expected: vec!["sha512-AAAA".into()],
                actual: integrity_of("sha512", sdk).unwrap(),
            },
            "only the strongest algorithm counts"
        );
        assert_eq!(
            check_integrity(
                &format!("sha384-wrong {good384}?ct=application/javascript"),
                sdk
            ),
            SriVerdict::Matches {
                algorithm: "sha384"
            },
            "any hash of the strongest algorithm may match; options are ignored"
        );
        assert_eq!(check_integrity("md5-xyz", sdk), SriVerdict::Unchecked);
        assert_eq!(check_integrity("", sdk), SriVerdict::Unchecked);
    }

    #[test]
    fn a_wrong_integrity_fails_with_the_hash_of_the_file() {
        let sdk = b"/* the sdk */".to_vec();
        let head = format!(
            r#"<script src="{SDK}" integrity="sha384-bm90IHRoZSBzZGs=" crossorigin="anonymous"></script>"#
        );
        let checks = evaluate(&[Ok(page(None, &head))], &target(), &Ok(sdk.clone()));
        let sri = checks.iter().find(|c| c.id == "storefront-sri").unwrap();
        assert_eq!(sri.outcome, Outcome::Fail);
        let actual = integrity_of("sha384", &sdk).unwrap();
        assert!(sri.evidence.read.contains(&actual), "{sri:?}");
        assert!(
            sri.fix.contains("Remove the integrity attribute"),
            "{sri:?}"
        );

        let right = format!(
            r#"<script src="{SDK}" integrity="{actual}" crossorigin="anonymous"></script>"#
        );
        let checks = evaluate(&[Ok(page(None, &right))], &target(), &Ok(sdk.clone()));
        assert_eq!(outcome(&checks, "storefront-sri"), Outcome::Pass);

        let no_cors = format!(r#"<script src="{SDK}" integrity="{actual}"></script>"#);
        let checks = evaluate(&[Ok(page(None, &no_cors))], &target(), &Ok(sdk));
        assert_eq!(outcome(&checks, "storefront-sri"), Outcome::Fail);
    }

    #[test]
    fn a_missing_snippet_warns_and_an_unreachable_page_is_inconclusive() {
        let checks = evaluate(&[Ok(page(None, ""))], &target(), &Err(String::new()));
        let snippet = checks
            .iter()
            .find(|c| c.id == "storefront-snippet")
            .unwrap();
        assert_eq!(snippet.outcome, Outcome::Fail);
        assert_eq!(snippet.severity, super::super::Severity::Warn);

        let failure = PageFailure {
            url: url("https://shop.example.com/"),
            status: None,
            reason: "connection refused".into(),
        };
        let checks = evaluate(
            &[
                Ok(page(None, &format!(r#"<script src="{SDK}"></script>"#))),
                Err(failure),
            ],
            &target(),
            &Err(String::new()),
        );
        assert!(
            checks.iter().all(|c| c.outcome == Outcome::Inconclusive),
            "{checks:?}"
        );
        assert!(checks[0].evidence.read.contains("connection refused"));
        assert!(evaluate(&[], &target(), &Err(String::new()))
            .iter()
            .all(|c| c.outcome == Outcome::Inconclusive));
    }
}
