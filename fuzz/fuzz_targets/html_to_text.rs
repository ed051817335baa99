//! HTML → chat text, for Freshdesk replies and notes (any HTML an agent or an e-mail brings).
#![no_main]

use libfuzzer_sys::fuzz_target;
use providers::freshdesk::html_to_text;
use switchboard_fuzz::text;

/// A private-use character the sandwiched bodies are stripped of, so it can only reach the
/// output by leaking out of the element it was put in.
const SENTINEL: char = '\u{E000}';

fuzz_target!(|data: &[u8]| {
    let html = text(data);
    let out = html_to_text(&html);
    assert_tidy(&out);

    // Script and style content never becomes text, whatever precedes the end tag. (The output
    // may still contain `<script>` as text: `&lt;script&gt;` means exactly that.)
    for element in ["script", "style"] {
        let body = without_end_tags(&html.replace(SENTINEL, ""), element);
        let sandwich = format!("<p>before</p><{element}>{body}{SENTINEL}</{element}><p>after</p>");
        let out = html_to_text(&sandwich);
        assert!(!out.contains(SENTINEL), "{element} content leaked: {out:?}");
        assert!(out.starts_with("before"), "{out:?}");
        assert_tidy(&out);
    }
});

/// Lines trimmed, whitespace only ' ' and '\n', no blank line at either end or twice in a row.
fn assert_tidy(out: &str) {
    assert!(
        !out.chars().any(|c| c.is_whitespace() && c != ' ' && c != '\n'),
        "{out:?}"
    );
    let lines: Vec<&str> = out.split('\n').collect();
    for pair in lines.windows(2) {
        assert!(!(pair[0].is_empty() && pair[1].is_empty()), "two blank lines: {out:?}");
    }
    for line in &lines {
        assert_eq!(line.trim(), *line, "untrimmed line in {out:?}");
    }
    if !out.is_empty() {
        assert!(lines.first().is_some_and(|l| !l.is_empty()) && lines.last().is_some_and(|l| !l.is_empty()));
    }
}

/// `text` with every `</element` (any case) removed, repeatedly, so the only end tag a browser
/// would see is the one the sandwich adds.
fn without_end_tags(text: &str, element: &str) -> String {
    let needle = format!("</{element}");
    let mut out = text.to_owned();
    while let Some(at) = out.to_ascii_lowercase().find(&needle) {
        out.replace_range(at..at + needle.len(), "");
    }
    out
}
