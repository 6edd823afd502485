//! A small, safe Markdown subset for READMEs: headings, paragraphs,
//! fenced code blocks, lists, inline code, and links to `http(s)` only.
//! Everything else is text, escaped: no raw HTML ever reaches the page.

use super::escape;

/// Renders `text`; headings are shifted two levels down (the README sits
/// under the page's `h2`).
pub(super) fn render(text: &str) -> String {
    let mut out = String::new();
    let mut para: Vec<&str> = Vec::new();
    let mut list: Option<&'static str> = None;
    let mut code: Option<Vec<&str>> = None;

    fn flush_para(out: &mut String, para: &mut Vec<&str>) {
        if !para.is_empty() {
            out.push_str("<p>");
            out.push_str(&inline(&para.join(" ")));
            out.push_str("</p>\n");
            para.clear();
        }
    }
    fn close_list(out: &mut String, list: &mut Option<&'static str>) {
        if let Some(tag) = list.take() {
            out.push_str(&format!("</{tag}>\n"));
        }
    }

    for line in text.lines() {
        if let Some(block) = code.as_mut() {
            if line.trim_start().starts_with("```") {
                out.push_str("<pre><code>");
                out.push_str(&escape(&block.join("\n")));
                out.push_str("</code></pre>\n");
                code = None;
            } else {
                block.push(line);
            }
            continue;
        }
        let trimmed = line.trim();
        if trimmed.starts_with("```") {
            flush_para(&mut out, &mut para);
            close_list(&mut out, &mut list);
            code = Some(Vec::new());
            continue;
        }
        if trimmed.is_empty() {
            flush_para(&mut out, &mut para);
            close_list(&mut out, &mut list);
            continue;
        }
        let hashes = trimmed.bytes().take_while(|&b| b == b'#').count();
        if (1..=6).contains(&hashes) && trimmed[hashes..].starts_with(' ') {
            flush_para(&mut out, &mut para);
            close_list(&mut out, &mut list);
            let level = (hashes + 2).min(6);
            out.push_str(&format!(
                "<h{level}>{}</h{level}>\n",
                inline(trimmed[hashes..].trim())
            ));
            continue;
        }
        let item = list_item(trimmed);
        if let Some((tag, rest)) = item {
            flush_para(&mut out, &mut para);
            if list != Some(tag) {
                close_list(&mut out, &mut list);
                out.push_str(&format!("<{tag}>\n"));
                list = Some(tag);
            }
            out.push_str(&format!("<li>{}</li>\n", inline(rest)));
            continue;
        }
        if list.is_some() {
            close_list(&mut out, &mut list);
        }
        para.push(trimmed);
    }
    if let Some(block) = code {
        out.push_str("<pre><code>");
        out.push_str(&escape(&block.join("\n")));
        out.push_str("</code></pre>\n");
    }
    flush_para(&mut out, &mut para);
    close_list(&mut out, &mut list);
    out
}

fn list_item(line: &str) -> Option<(&'static str, &str)> {
    for bullet in ["- ", "* ", "+ "] {
        if let Some(rest) = line.strip_prefix(bullet) {
            return Some(("ul", rest.trim()));
        }
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    if digits > 0 && line[digits..].starts_with(". ") {
        return Some(("ol", line[digits + 2..].trim()));
    }
    None
}

/// Inline code and links; everything else escaped.
fn inline(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(pos) = rest.find(['`', '[']) {
        out.push_str(&escape(&rest[..pos]));
        let tail = &rest[pos..];
        if let Some(after) = tail.strip_prefix('`')
            && let Some(end) = after.find('`')
        {
            out.push_str("<code>");
            out.push_str(&escape(&after[..end]));
            out.push_str("</code>");
            rest = &after[end + 1..];
            continue;
        }
        if let Some(after) = tail.strip_prefix('[')
            && let Some(close) = after.find("](")
            && let Some(end) = after[close + 2..].find(')')
        {
            let label = &after[..close];
            let url = &after[close + 2..close + 2 + end];
            if safe_url(url) {
                out.push_str(&format!(
                    "<a href=\"{}\" rel=\"nofollow noopener noreferrer\">{}</a>",
                    escape(url),
                    escape(label)
                ));
            } else {
                out.push_str(&escape(label));
            }
            rest = &after[close + 2 + end + 1..];
            continue;
        }
        out.push_str(&escape(&tail[..1]));
        rest = &tail[1..];
    }
    out.push_str(&escape(rest));
    out
}

/// Only absolute `http(s)` URLs without spaces, quotes or angle brackets.
fn safe_url(url: &str) -> bool {
    (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() > "https://".len()
        && !url.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '<' | '>' | '`')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_the_subset_and_nothing_else() {
        let html = render(
            "# Title\n\nSome *text* <script>alert(1)</script>.\n\n- one `a<b`\n- [two](https://example.com/x)\n\n```\n<b>code</b>\n```\n[bad](javascript:alert(1))\n",
        );
        assert!(html.contains("<h3>Title</h3>"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(!html.contains("<script"), "{html}");
        assert!(html.contains("<li>one <code>a&lt;b</code></li>"), "{html}");
        assert!(html.contains("<a href=\"https://example.com/x\""), "{html}");
        assert!(
            html.contains("<pre><code>&lt;b&gt;code&lt;/b&gt;</code></pre>"),
            "{html}"
        );
        assert!(!html.contains("javascript:"), "{html}");
        assert!(html.contains("<p>bad"), "{html}");
    }
}
