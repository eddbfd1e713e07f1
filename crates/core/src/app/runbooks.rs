//! The runbooks (`data/runbooks/*.md`, compiled in) rendered for the app's Runbooks screen, and
//! the map from each error class a screen shows to the runbook section that explains it.
//!
//! A section starts with `## anchor` (its id) and, by convention, a bold line that is its title:
//! `## code-plan-moved` + `**The store moved on since the plan was shown**` renders as
//! `<h2 id="code-plan-moved">The store moved on since the plan was shown</h2>`. Raw HTML in a
//! runbook is shown as text, never passed through.

use std::collections::BTreeMap;

use pulldown_cmark::{CowStr, Event, HeadingLevel, Options, Parser, Tag, TagEnd};
use serde::{Deserialize, Serialize};
use ts_rs::TS;

use super::dead_letters::ReasonClass;
use super::status::AlertKind;
use super::Code;

/// One runbook, rendered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct Runbook {
    /// Its file's stem (`marketer`).
    pub id: String,
    /// Its `#` heading.
    pub title: String,
    /// Who it is for.
    pub audience: String,
    /// The body as HTML; every section heading carries its anchor as `id`.
    pub html: String,
    /// The section anchors, in order.
    pub anchors: Vec<String>,
}

/// Each error class to the runbook section that explains it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, TS)]
pub struct ErrorRunbooks {
    /// `code.<code>`, `dead_letter.<reason class>`, `alert.<kind>`, `preflight.<check id>` →
    /// `<runbook id>#<anchor>`.
    pub links: BTreeMap<String, String>,
}

/// The runbooks' sources: id, audience, Markdown.
const SOURCES: [(&str, &str, &str); 5] = [
    (
        "marketer",
        "marketing",
        include_str!("../../../../data/runbooks/marketer.md"),
    ),
    (
        "finance",
        "finance",
        include_str!("../../../../data/runbooks/finance.md"),
    ),
    (
        "escalation",
        "operations",
        include_str!("../../../../data/runbooks/escalation.md"),
    ),
    (
        "preflight",
        "operations",
        include_str!("../../../../data/runbooks/preflight.md"),
    ),
    (
        "errors",
        "everyone",
        include_str!("../../../../data/runbooks/errors.md"),
    ),
];

/// Every runbook, rendered, in the order the screen lists them.
pub fn runbooks() -> Vec<Runbook> {
    RENDERED.clone()
}

/// The compiled-in runbooks, rendered once per process.
static RENDERED: std::sync::LazyLock<Vec<Runbook>> = std::sync::LazyLock::new(|| {
    SOURCES
        .iter()
        .map(|(id, audience, markdown)| render(id, audience, markdown))
        .collect()
});

/// The error map, worked out once per process from the rendered runbooks.
static ERROR_LINKS: std::sync::LazyLock<ErrorRunbooks> = std::sync::LazyLock::new(links);

/// Where each error class is explained. Only sections that exist are linked; a test checks
/// that every code, reason class, alert kind and preflight check has one.
pub fn error_runbooks() -> ErrorRunbooks {
    ERROR_LINKS.clone()
}

fn links() -> ErrorRunbooks {
    let books = &*RENDERED;
    let has = |book: &str, anchor: &str| {
        books
            .iter()
            .any(|b| b.id == book && b.anchors.iter().any(|a| a == anchor))
    };
    let mut links = BTreeMap::new();
    let mut link = |class: String, book: &str, anchor: String| {
        if has(book, &anchor) {
            links.insert(class, format!("{book}#{anchor}"));
        }
    };
    for code in Code::ALL {
        let wire = code.as_str();
        link(
            format!("code.{wire}"),
            "errors",
            format!("code-{}", wire.replace('_', "-")),
        );
    }
    for class in ReasonClass::ALL {
        let wire = class.as_str();
        link(
            format!("dead_letter.{wire}"),
            "errors",
            format!("dead-letter-{}", wire.replace('_', "-")),
        );
    }
    for kind in AlertKind::ALL {
        let anchor = match kind {
            AlertKind::Late => "late-lanes",
            AlertKind::Parked => "parked",
            AlertKind::SetAside => "set-aside",
        };
        link(
            format!("alert.{}", kind.as_str()),
            "escalation",
            anchor.to_owned(),
        );
    }
    for check in crate::preflight::DEFINITIONS {
        link(
            format!("preflight.{}", check.id),
            "preflight",
            check.id.to_owned(),
        );
    }
    ErrorRunbooks { links }
}

/// A section heading's text as its anchor: lower case, words joined by `-`.
fn anchor_of(text: &str) -> String {
    let mut out = String::new();
    for c in text.trim().chars() {
        if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_owned()
}

fn render(id: &str, audience: &str, markdown: &str) -> Runbook {
    let events: Vec<Event<'_>> = Parser::new_ext(markdown, Options::ENABLE_TABLES).collect();
    let mut title = id.to_owned();
    let mut anchors = Vec::new();
    let mut out: Vec<Event<'_>> = Vec::with_capacity(events.len());
    let mut i = 0;
    while i < events.len() {
        match &events[i] {
            Event::Start(Tag::Heading { level, .. }) => {
                let level = *level;
                let mut text = String::new();
                let mut j = i + 1;
                while j < events.len() && !matches!(events[j], Event::End(TagEnd::Heading(_))) {
                    if let Event::Text(t) | Event::Code(t) = &events[j] {
                        text.push_str(t);
                    }
                    j += 1;
                }
                if level == HeadingLevel::H1 {
                    title = text;
                    i = j + 1;
                    continue;
                }
                let anchor = anchor_of(&text);
                // `## anchor` then a paragraph that is one bold run: that is the title.
                let mut shown = text.clone();
                let mut next = j + 1;
                if let [Event::Start(Tag::Paragraph), Event::Start(Tag::Strong), Event::Text(t), Event::End(TagEnd::Strong), Event::End(TagEnd::Paragraph), ..] =
                    &events[next.min(events.len())..]
                {
                    shown = t.to_string();
                    next += 5;
                }
                // pulldown-cmark's writer escapes both the id and the text.
                out.push(Event::Start(Tag::Heading {
                    level,
                    id: Some(CowStr::from(anchor.clone())),
                    classes: Vec::new(),
                    attrs: Vec::new(),
                }));
                out.push(Event::Text(CowStr::from(shown)));
                out.push(Event::End(TagEnd::Heading(level)));
                anchors.push(anchor);
                i = next;
                continue;
            }
            // Raw HTML in a runbook is shown as the text it is.
            Event::Html(raw) | Event::InlineHtml(raw) => out.push(Event::Text(raw.clone())),
            other => out.push(other.clone()),
        }
        i += 1;
    }
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, out.into_iter());
    Runbook {
        id: id.to_owned(),
        title,
        audience: audience.to_owned(),
        html,
        anchors,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_class_a_screen_shows_has_a_runbook_section() {
        let map = error_runbooks();
        let mut missing = Vec::new();
        for code in Code::ALL {
            let key = format!("code.{}", code.as_str());
            if !map.links.contains_key(&key) {
                missing.push(key);
            }
        }
        for class in ReasonClass::ALL {
            let key = format!("dead_letter.{}", class.as_str());
            if !map.links.contains_key(&key) {
                missing.push(key);
            }
        }
        for kind in AlertKind::ALL {
            let key = format!("alert.{}", kind.as_str());
            if !map.links.contains_key(&key) {
                missing.push(key);
            }
        }
        for check in crate::preflight::DEFINITIONS {
            let key = format!("preflight.{}", check.id);
            if !map.links.contains_key(&key) {
                missing.push(key);
            }
        }
        assert!(missing.is_empty(), "no runbook section for {missing:?}");
        assert_eq!(map.links["code.plan_moved"], "errors#code-plan-moved");
        assert_eq!(map.links["alert.late"], "escalation#late-lanes");
        assert_eq!(
            map.links["preflight.storefront-csp-script-src"],
            "preflight#storefront-csp-script-src"
        );
    }

    #[test]
    fn sections_render_with_their_anchor_as_id_and_their_bold_line_as_title() {
        let book = render(
            "t",
            "testers",
            "# The title\n\nIntro.\n\n## code-plan-moved\n\n**The store moved on**\n\n- one\n- two\n\n## plain heading\n\ntext <script>alert(1)</script>\n",
        );
        assert_eq!(book.title, "The title");
        assert_eq!(book.anchors, ["code-plan-moved", "plain-heading"]);
        assert!(
            book.html
                .contains("<h2 id=\"code-plan-moved\">The store moved on</h2>"),
            "{}",
            book.html
        );
        assert!(!book.html.contains("<strong>The store moved on"));
        assert!(book
            .html
            .contains("<h2 id=\"plain-heading\">plain heading</h2>"));
        assert!(!book.html.contains("<h1"), "the title is not repeated");
        assert!(!book.html.contains("<script>"), "{}", book.html);
        assert!(book.html.contains("&lt;script&gt;"), "{}", book.html);
    }

    #[test]
    fn the_five_runbooks_are_compiled_in_for_their_audiences() {
        let books = runbooks();
        let ids: Vec<&str> = books.iter().map(|b| b.id.as_str()).collect();
        assert_eq!(
            ids,
            ["marketer", "finance", "escalation", "preflight", "errors"]
        );
        let marketer = &books[0];
        assert_eq!(marketer.title, "Marketer runbook");
        for anchor in [
            "cookie-to-email-merge",
            "why-not-in-flow",
            "tag-based-segmentation",
        ] {
            assert!(marketer.anchors.iter().any(|a| a == anchor), "{anchor}");
        }
        assert!(books[1]
            .anchors
            .iter()
            .any(|a| a == "attribution-reconciliation-checklist"));
        assert!(books[2].anchors.iter().any(|a| a == "purchases-stopped"));
    }
}
