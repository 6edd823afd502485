//! Reading pipeline text into a JSON value while remembering the line of
//! every key and list item, so that a problem found later — by serde or
//! by validation — is reported with its line.
//!
//! YAML is read with `saphyr-parser` (a maintained, YAML 1.2 parser that
//! reports the position of every event), resolving plain scalars with the
//! YAML 1.2 core schema. JSON is checked with `serde_json` first, for its
//! exact syntax errors, then read the same way (JSON is YAML 1.2).
#![forbid(unsafe_code)]

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span};
use serde_json::{Map, Number, Value};

/// A syntax error: where, and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SyntaxError {
    pub(crate) line: usize,
    pub(crate) column: usize,
    pub(crate) message: String,
}

/// The line of each path in a document (`steps[1].plugin_ref`; the root
/// is `""`). Keys map to the line of the key, list items to the line where
/// the item starts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Lines {
    lines: HashMap<String, usize>,
}

impl Lines {
    /// The line of `path`, or of its nearest ancestor that has one.
    pub(crate) fn of(&self, path: &str) -> usize {
        let mut path = path;
        loop {
            if let Some(&line) = self.lines.get(path) {
                return line;
            }
            match path.rfind(['.', '[']) {
                Some(i) => path = &path[..i],
                None => return self.lines.get("").copied().unwrap_or(1),
            }
        }
    }

    /// Whether `path` itself was in the document.
    pub(crate) fn has(&self, path: &str) -> bool {
        self.lines.contains_key(path)
    }
}

/// Deepest nesting of sequences and mappings read. Flow collections are
/// limited by the parser; block ones (`- - - x`) are not, and each level
/// is a stack frame here. serde_json stops at the same depth.
const MAX_DEPTH: usize = 128;

/// Most values a document may expand to, aliases counted at their full
/// size: a few hundred bytes of nested aliases ("billion laughs") would
/// otherwise expand to billions of values.
const MAX_VALUES: usize = 100_000;

/// Parses YAML text into a value and its line map.
pub(crate) fn read_yaml(text: &str) -> Result<(Value, Lines), SyntaxError> {
    let mut reader = Reader {
        events: Parser::new_from_str(text),
        anchors: HashMap::new(),
        lines: Lines::default(),
        depth: 0,
        values: 0,
    };
    reader.document()
}

/// Parses JSON text into a value and its line map.
pub(crate) fn read_json(text: &str) -> Result<(Value, Lines), SyntaxError> {
    if let Err(e) = serde_json::from_str::<Value>(text) {
        let message = e.to_string();
        let message = match message.rfind(" at line ") {
            Some(i) => message[..i].to_owned(),
            None => message,
        };
        return Err(SyntaxError {
            line: e.line(),
            column: e.column(),
            message,
        });
    }
    read_yaml(text)
}

struct Reader<'a> {
    events: Parser<'a, saphyr_parser::StrInput<'a>>,
    /// Each anchored value, with the number of values in it.
    anchors: HashMap<usize, (Value, usize)>,
    lines: Lines,
    /// Collections open around the node being read.
    depth: usize,
    /// Values read so far, aliases counted at their full size.
    values: usize,
}

type Next<'a> = (Event<'a>, Span);

impl<'a> Reader<'a> {
    fn next(&mut self) -> Result<Next<'a>, SyntaxError> {
        match self.events.next() {
            Some(Ok(event)) => Ok(event),
            Some(Err(e)) => Err(SyntaxError {
                line: e.marker().line(),
                column: e.marker().col() + 1,
                message: e.info().to_owned(),
            }),
            None => Err(SyntaxError {
                line: 1,
                column: 1,
                message: "unexpected end of input".to_owned(),
            }),
        }
    }

    fn document(&mut self) -> Result<(Value, Lines), SyntaxError> {
        let mut value = None;
        loop {
            let (event, span) = self.next()?;
            match event {
                Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
                Event::DocumentStart(_) if value.is_some() => {
                    return Err(error_at(
                        span,
                        "a pipeline file holds one document; remove the second `---`",
                    ));
                }
                Event::DocumentStart(_) => {
                    self.lines.lines.insert(String::new(), span.start.line());
                    let (event, span) = self.next()?;
                    value = Some(self.node(event, span, "")?);
                }
                Event::StreamEnd => break,
                _ => return Err(error_at(span, "unexpected content after the document")),
            }
        }
        let value = value.ok_or(SyntaxError {
            line: 1,
            column: 1,
            message: "the file is empty".to_owned(),
        })?;
        Ok((value, std::mem::take(&mut self.lines)))
    }

    fn node(&mut self, event: Event<'a>, span: Span, path: &str) -> Result<Value, SyntaxError> {
        let before = self.values;
        self.count(span, 1)?;
        let collection = matches!(event, Event::SequenceStart(..) | Event::MappingStart(..));
        if collection {
            if self.depth == MAX_DEPTH {
                return Err(error_at(
                    span,
                    &format!("nested more than {MAX_DEPTH} levels deep"),
                ));
            }
            self.depth += 1;
        }
        let value = self.node_inner(event, span, path, before);
        if collection {
            self.depth -= 1;
        }
        value
    }

    /// Counts `n` more values, failing past [`MAX_VALUES`].
    fn count(&mut self, span: Span, n: usize) -> Result<(), SyntaxError> {
        self.values = self.values.saturating_add(n);
        if self.values > MAX_VALUES {
            return Err(error_at(
                span,
                &format!(
                    "the document expands to more than {MAX_VALUES} values (through aliases?)"
                ),
            ));
        }
        Ok(())
    }

    fn node_inner(
        &mut self,
        event: Event<'a>,
        span: Span,
        path: &str,
        before: usize,
    ) -> Result<Value, SyntaxError> {
        match event {
            Event::Scalar(text, style, anchor, tag) => {
                let forced_string = tag.as_ref().is_some_and(|t| t.suffix == "str");
                let value = if style == ScalarStyle::Plain && !forced_string {
                    resolve_plain(&text)
                } else {
                    Value::String(text.into_owned())
                };
                Ok(self.anchor(anchor, value, before))
            }
            Event::Alias(id) => {
                let size = self
                    .anchors
                    .get(&id)
                    .map(|(_, size)| *size)
                    .ok_or_else(|| {
                        error_at(span, "an alias names an anchor that is not defined")
                    })?;
                // The alias itself was counted as one value.
                self.count(span, size.saturating_sub(1))?;
                Ok(self.anchors[&id].0.clone())
            }
            Event::SequenceStart(anchor, _) => {
                let mut items = Vec::new();
                loop {
                    let (event, span) = self.next()?;
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    let item_path = format!("{path}[{}]", items.len());
                    self.lines
                        .lines
                        .insert(item_path.clone(), span.start.line());
                    items.push(self.node(event, span, &item_path)?);
                }
                Ok(self.anchor(anchor, Value::Array(items), before))
            }
            Event::MappingStart(anchor, _) => {
                let mut map = Map::new();
                loop {
                    let (event, key_span) = self.next()?;
                    if matches!(event, Event::MappingEnd) {
                        break;
                    }
                    let key = match self.node(event, key_span, path)? {
                        Value::String(s) => s,
                        Value::Null => String::new(),
                        other => other.to_string(),
                    };
                    let key_path = if path.is_empty() {
                        key.clone()
                    } else {
                        format!("{path}.{key}")
                    };
                    if map.contains_key(&key) {
                        return Err(error_at(
                            key_span,
                            &format!(
                                "duplicate key {key:?} (first at line {}); keep one",
                                self.lines.of(&key_path)
                            ),
                        ));
                    }
                    self.lines
                        .lines
                        .insert(key_path.clone(), key_span.start.line());
                    let (event, span) = self.next()?;
                    let value = self.node(event, span, &key_path)?;
                    map.insert(key, value);
                }
                Ok(self.anchor(anchor, Value::Object(map), before))
            }
            _ => Err(error_at(span, "unexpected YAML event")),
        }
    }

    /// Remembers an anchored value; `before` is the count of values before
    /// it was read.
    fn anchor(&mut self, anchor: usize, value: Value, before: usize) -> Value {
        if anchor > 0 {
            self.anchors
                .insert(anchor, (value.clone(), self.values - before));
        }
        value
    }
}

fn error_at(span: Span, message: &str) -> SyntaxError {
    SyntaxError {
        line: span.start.line(),
        column: span.start.col() + 1,
        message: message.to_owned(),
    }
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn resolve_plain(t: &str) -> Value {
    match t {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    let unsigned = t.strip_prefix(['-', '+']).unwrap_or(t);
    if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        if let Ok(i) = t.parse::<i64>() {
            return Value::Number(i.into());
        }
        if let Ok(u) = t.parse::<u64>() {
            return Value::Number(u.into());
        }
    }
    if let Some(hex) = t.strip_prefix("0x")
        && let Ok(u) = u64::from_str_radix(hex, 16)
    {
        return Value::Number(u.into());
    }
    if let Some(oct) = t.strip_prefix("0o")
        && let Ok(u) = u64::from_str_radix(oct, 8)
    {
        return Value::Number(u.into());
    }
    if looks_like_float(unsigned)
        && let Some(n) = t.parse::<f64>().ok().and_then(Number::from_f64)
    {
        return Value::Number(n);
    }
    Value::String(t.to_owned())
}

/// `[0-9]+(\.[0-9]*)?([eE][-+]?[0-9]+)?` or `\.[0-9]+(...)?`.
fn looks_like_float(t: &str) -> bool {
    let (mantissa, exponent) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = digits(whole)
        && fraction.is_none_or(digits)
        && !(whole.is_empty() && fraction.is_none_or(str::is_empty));
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && digits(e)
    });
    mantissa_ok && exponent_ok && (fraction.is_some() || exponent.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn yaml_values_and_lines() {
        let text = "a: 1\nb:\n  - x: true\n    y: '2'\n  - ~\nc: 1.5e3\nd: hello world\n";
        let (value, lines) = read_yaml(text).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"a": 1, "b": [{"x": true, "y": "2"}, null], "c": 1500.0, "d": "hello world"})
        );
        assert_eq!(lines.of("a"), 1);
        assert_eq!(lines.of("b[0]"), 3);
        assert_eq!(lines.of("b[0].y"), 4);
        assert_eq!(lines.of("b[1]"), 5);
        assert_eq!(lines.of("b[0].nope"), 3);
        assert_eq!(lines.of("d"), 7);
    }

    #[test]
    fn duplicate_keys_are_refused_with_both_lines() {
        let err = read_yaml("a: 1\nb: 2\na: 3\n").unwrap_err();
        assert_eq!(err.line, 3);
        assert_eq!(
            err.message,
            "duplicate key \"a\" (first at line 1); keep one"
        );
    }

    #[test]
    fn json_is_read_with_lines() {
        let (value, lines) =
            read_json("{\n  \"a\": [\n    1,\n    {\"b\": \"c\"}\n  ]\n}").unwrap();
        assert_eq!(value, serde_json::json!({"a": [1, {"b": "c"}]}));
        assert_eq!(lines.of("a[1].b"), 4);
        let err = read_json("{\n  \"a\": 1,\n}").unwrap_err();
        assert_eq!(err.line, 3);
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_stack_overflow() {
        // Found by fuzzing: block nesting has no limit in the parser.
        let text = format!("a:\n{}x\n", "- ".repeat(100_000));
        let err = read_yaml(&text).unwrap_err();
        assert_eq!(err.message, "nested more than 128 levels deep");
        let ok = format!("a:\n{}x\n", "- ".repeat(100));
        assert!(read_yaml(&ok).is_ok());
    }

    #[test]
    fn alias_bombs_are_an_error_not_a_hang() {
        // Found by fuzzing: 500 bytes of nested aliases took minutes.
        let mut text = String::from("x0: &a0 [l, l, l, l, l, l, l, l, l, l]\n");
        for l in 1..=9 {
            let refs = vec![format!("*a{}", l - 1); 10].join(", ");
            text.push_str(&format!("x{l}: &a{l} [{refs}]\n"));
        }
        let err = read_yaml(&text).unwrap_err();
        assert!(
            err.message.starts_with("the document expands to more than"),
            "{err:?}"
        );
        // Within the budget, aliases still expand.
        let (value, _) = read_yaml("a: &x [1, 2]\nb: [*x, *x]\n").unwrap();
        assert_eq!(value["b"], serde_json::json!([[1, 2], [1, 2]]));
    }

    #[test]
    fn anchors_and_plain_scalars() {
        let (value, _) = read_yaml("a: &x {k: 0x10}\nb: *x\nc: '010'\nd: 010\ne: .5\n").unwrap();
        assert_eq!(
            value,
            serde_json::json!({"a": {"k": 16}, "b": {"k": 16}, "c": "010", "d": 10, "e": 0.5})
        );
    }
}
