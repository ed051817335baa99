//! The little HTML handling the fakes need: escaping for the pages, the `body_text`/
//! `description_text` Freshdesk derives from HTML, and the HTML its editor makes from typed text.

/// Escapes text for HTML element content and quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

/// What an agent's editor produces from typed text: `<div>` per line, `<`/`>`/`&` escaped but
/// quotes left alone — so a comment with `"` reaches the automation template verbatim.
pub fn from_typed_text(text: &str) -> String {
    text.lines()
        .map(|line| {
            let line = line.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;");
            format!("<div>{line}</div>")
        })
        .collect()
}

/// Plain text of an HTML fragment: tags dropped (block tags become line breaks), common entities
/// decoded, whitespace trimmed.
pub fn to_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len());
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        out.push_str(&rest[..start]);
        let after = &rest[start..];
        let Some(end) = after.find('>') else {
            out.push_str(after);
            rest = "";
            break;
        };
        let tag = after[1..end].trim_start_matches('/').to_ascii_lowercase();
        let name = tag.split(|c: char| c.is_whitespace() || c == '/').next().unwrap_or("");
        if matches!(name, "br" | "div" | "p" | "li" | "tr" | "h1" | "h2" | "h3")
            && !out.ends_with('\n')
            && !out.is_empty()
        {
            out.push('\n');
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    decode_entities(&out).trim().to_string()
}

fn decode_entities(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_everything_dangerous() {
        assert_eq!(escape(r#"<a href="x">&'"#), "&lt;a href=&quot;x&quot;&gt;&amp;&#39;");
    }

    #[test]
    fn typed_text_keeps_quotes() {
        assert_eq!(
            from_typed_text("say \"hi\" <b>\nok"),
            "<div>say \"hi\" &lt;b&gt;</div><div>ok</div>"
        );
    }

    #[test]
    fn text_of_html() {
        assert_eq!(
            to_text("<div>Hello <b>there</b></div><div>a &amp; b</div>"),
            "Hello there\na & b"
        );
        assert_eq!(to_text("no tags"), "no tags");
        assert_eq!(to_text("broken <tag"), "broken <tag");
    }
}
