//! HTML → plain text for relaying Freshdesk replies to a chat.
//!
//! Small and forgiving rather than a full HTML parser: ticket comments are simple markup, and
//! whatever arrives must never panic. Quoted e-mail history (`<blockquote>`, "Original message")
//! is dropped so the customer sees only the new reply.

/// Plain text of an HTML fragment: tags stripped, common entities decoded, block ends and
/// `<br>` as line breaks, quoted history removed, whitespace tidied.
pub fn html_to_text(html: &str) -> String {
    let mut state = State::default();
    let mut rest = html;
    while let Some(start) = rest.find('<') {
        state.text(&rest[..start]);
        let after = &rest[start + 1..];
        if let Some(comment) = after.strip_prefix("!--") {
            rest = comment.find("-->").map_or("", |end| &comment[end + 3..]);
            continue;
        }
        let looks_like_tag = after
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || matches!(c, '/' | '!' | '?'));
        if !looks_like_tag {
            state.text("<");
            rest = after;
            continue;
        }
        let Some(end) = after.find('>') else {
            // No `>` is left, so no later tag or comment can close: the rest is text, up to an
            // unclosed comment, which hides what follows. Taking it at once keeps this linear;
            // searching the rest again for every `<` was quadratic (1 MB of `<a` took 15 s).
            let cut = after.find("<!--").unwrap_or(after.len());
            state.text("<");
            state.text(&after[..cut]);
            rest = "";
            break;
        };
        state.tag(&after[..end]);
        rest = &after[end + 1..];
    }
    state.text(rest);
    tidy(&state.out)
}

#[derive(Default)]
struct State {
    out: String,
    /// Depth of `<blockquote>` nesting: quoted history, not shown.
    quote_depth: usize,
    /// Inside `<script>`/`<style>`, whose content is never text.
    raw_element: Option<String>,
}

const BLOCK_TAGS: &[&str] = &[
    "p", "div", "li", "ul", "ol", "tr", "table", "h1", "h2", "h3", "h4", "h5", "h6", "pre", "section", "article",
    "header", "footer", "hr",
];

impl State {
    fn hidden(&self) -> bool {
        self.quote_depth > 0 || self.raw_element.is_some()
    }

    fn text(&mut self, raw: &str) {
        if self.hidden() || raw.is_empty() {
            return;
        }
        for c in decode_entities(raw).chars() {
            if c.is_whitespace() {
                if !self.out.is_empty() && !self.out.ends_with([' ', '\n']) {
                    self.out.push(' ');
                }
            } else {
                self.out.push(c);
            }
        }
    }

    fn tag(&mut self, tag: &str) {
        // Only `</name` is an end tag: `<//style>` is not (browsers ignore it), and taking it as
        // one ended a script/style early and leaked its content as text (found by fuzzing).
        let (closing, rest) = match tag.strip_prefix('/') {
            Some(rest) => (true, rest),
            None => (false, tag),
        };
        let name: String = rest
            .chars()
            .take_while(char::is_ascii_alphanumeric)
            .map(|c| c.to_ascii_lowercase())
            .collect();
        if let Some(raw) = &self.raw_element {
            if closing && *raw == name {
                self.raw_element = None;
            }
            return;
        }
        match name.as_str() {
            "script" | "style" if !closing => self.raw_element = Some(name),
            "blockquote" if closing => self.quote_depth = self.quote_depth.saturating_sub(1),
            "blockquote" => self.quote_depth += 1,
            _ if self.hidden() => {}
            "br" => self.newline(),
            "li" if !closing => {
                self.end_line();
                self.out.push_str("- ");
            }
            name if BLOCK_TAGS.contains(&name) => self.end_line(),
            _ => {}
        }
    }

    fn newline(&mut self) {
        if self.out.ends_with(' ') {
            self.out.pop();
        }
        self.out.push('\n');
    }

    fn end_line(&mut self) {
        if !self.out.is_empty() && !self.out.ends_with('\n') {
            self.newline();
        }
    }
}

/// Trims lines, cuts at an "Original message" marker, keeps at most one blank line in a row.
fn tidy(text: &str) -> String {
    let mut lines: Vec<&str> = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if is_original_message_marker(line) {
            break;
        }
        if line.is_empty() && lines.last().is_none_or(|last| last.is_empty()) {
            continue;
        }
        lines.push(line);
    }
    while lines.last().is_some_and(|last| last.is_empty()) {
        lines.pop();
    }
    lines.join("\n")
}

fn is_original_message_marker(line: &str) -> bool {
    let inner = line.trim_matches(|c: char| c == '-' || c.is_whitespace());
    line.starts_with("---") && inner.eq_ignore_ascii_case("original message")
}

fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        // Entities are short; a far-away `;` belongs to something else.
        let decoded = after
            .char_indices()
            .take(12)
            .find(|&(_, c)| c == ';')
            .and_then(|(end, _)| entity(&after[..end]).map(|c| (c, end)));
        match decoded {
            Some((c, end)) => {
                out.push(c);
                rest = &after[end + 1..];
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn entity(name: &str) -> Option<char> {
    if let Some(number) = name.strip_prefix('#') {
        let code = match number.strip_prefix(['x', 'X']) {
            Some(hex) => u32::from_str_radix(hex, 16).ok()?,
            None => number.parse::<u32>().ok()?,
        };
        return char::from_u32(code).filter(|c| *c != '\0');
    }
    Some(match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        "ndash" => '–',
        "mdash" => '—',
        "hellip" => '…',
        "rsquo" => '’',
        "lsquo" => '‘',
        "rdquo" => '”',
        "ldquo" => '“',
        "copy" => '©',
        "euro" => '€',
        "rupee" => '₹',
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_become_line_breaks() {
        assert_eq!(html_to_text("<div>Hello<br>World</div>"), "Hello\nWorld");
        assert_eq!(html_to_text("<p>One</p><p>Two</p>"), "One\nTwo");
        assert_eq!(html_to_text("a<br/><br />b"), "a\n\nb");
        assert_eq!(html_to_text("<ul><li>x</li><li>y</li></ul>"), "- x\n- y");
        assert_eq!(
            html_to_text("<div>Your order <b>#42</b>\n   is   <i>ready</i>.</div>"),
            "Your order #42 is ready."
        );
    }

    #[test]
    fn entities_are_decoded() {
        assert_eq!(
            html_to_text("Tom &amp; Jerry &lt;3 &quot;hi&quot; &#39;x&#39; &#x263A;&nbsp;ok"),
            "Tom & Jerry <3 \"hi\" 'x' ☺ ok"
        );
        assert_eq!(html_to_text("&lt;br&gt; stays text"), "<br> stays text");
        assert_eq!(
            html_to_text("AT&T &bogus; &#xZZ; &#0; & ;"),
            "AT&T &bogus; &#xZZ; &#0; & ;"
        );
        assert_eq!(html_to_text("&#99999999999;"), "&#99999999999;");
    }

    #[test]
    fn quoted_history_is_dropped() {
        let reply = "<div>Thanks, it's on its way!</div><div class=\"freshdesk_quote\">\
                     <blockquote class=\"freshdesk_quote\">On Mon, Asha wrote:<br>\
                     <blockquote>older</blockquote>where is my order?</blockquote></div><p>Team</p>";
        assert_eq!(html_to_text(reply), "Thanks, it's on its way!\nTeam");
        let email = "<div>Sure.</div><div>----- Original message -----</div><div>From: x</div>";
        assert_eq!(html_to_text(email), "Sure.");
    }

    #[test]
    fn scripts_styles_and_comments_are_dropped() {
        assert_eq!(
            html_to_text("<style>p{color:red}</style>a<script>if (1 < 2) {}</script>b<!-- \"q\" -->c"),
            "abc"
        );
        assert_eq!(html_to_text("a<!-- never closed"), "a");
    }

    #[test]
    fn only_a_real_end_tag_ends_a_script_or_style() {
        // Found by fuzzing (fuzz/regressions/html_to_text): inside a style element, this input
        // ended the element and what followed was shown.
        let crash = std::str::from_utf8(b"<//style>").expect("utf-8");
        assert_eq!(html_to_text(&format!("<style>p{{}}{crash}leak</style>after")), "after");
        assert_eq!(html_to_text("a<script>x<//script>leak</script>b"), "ab");
        assert_eq!(html_to_text("<p>x<//p>y</p>"), "xy");
    }

    #[test]
    fn unclosed_tags_take_linear_time() {
        // Each `<a` used to search the whole rest for a `>`; this took minutes unoptimised.
        let many = "<a".repeat(500_000);
        assert_eq!(html_to_text(&many), many);
        assert_eq!(html_to_text("x <b y<!-- z"), "x <b y");
        assert_eq!(html_to_text("<b <c"), "<b <c");
    }

    #[test]
    fn stray_angle_brackets_are_text() {
        assert_eq!(html_to_text("1 < 2 and 3 > 2"), "1 < 2 and 3 > 2");
        assert_eq!(html_to_text("x <"), "x <");
        assert_eq!(html_to_text("<div"), "<div");
        assert_eq!(html_to_text(""), "");
    }

    #[test]
    fn never_panics_on_any_prefix_of_tricky_input() {
        let tricky = "<p>ü&amp;<br/>&#x1F600;<blockquote>q</blockquote>\u{0}<!--x-->&#; <a href='>'>é</a></p>";
        let chars: Vec<char> = tricky.chars().collect();
        for start in 0..chars.len() {
            for end in start..=chars.len() {
                let slice: String = chars[start..end].iter().collect();
                let _ = html_to_text(&slice);
            }
        }
    }
}
