//! CEQL `where` clauses, as Cloud Elements poll URLs write them, turned into
//! Autotask REST filters.
//!
//! Cloud Elements resources poll with a SQL-like clause
//! (`lastActivityDate>='2024-06-01T12:34:56+0000'`); Autotask's REST API takes a
//! JSON filter tree instead. The clause is small enough for a hand-written
//! tokenizer and recursive-descent parser, which lets every error say exactly
//! where in the clause it is and what was expected there.
//!
//! | CEQL | Autotask |
//! |---|---|
//! | `=`, `!=` or `<>`, `<`, `<=`, `>`, `>=` | `eq`, `noteq`, `lt`, `lte`, `gt`, `gte` |
//! | `like '%x%'`, `like 'x%'`, `like '%x'`, `like 'x'` | `contains`, `beginsWith`, `endsWith`, `eq` |
//! | `in (a, b)`, `not in (a, b)` | `in`, `notIn` with a JSON array |
//! | `is null`, `is not null` | `notExist`, `exist` |
//! | `a and b`, `a or b`, `( ... )` | the top-level array (AND), `{"op":"and"/"or","items":[...]}` |
//!
//! AND binds tighter than OR; keywords are case-insensitive; nested groups of the
//! same kind are flattened (`(a and b) and c` is three conditions). Strings are in
//! single quotes with `''` for a quote; numbers (`-3`, `2.5`) and `true`/`false`
//! become JSON numbers and booleans. A `like` pattern may only start or end with
//! `%`: Autotask has no other wildcard, and `_` is an ordinary character.
//!
//! Dates: a string that is an ISO-8601 date-time (`T` or a space between date and
//! time; seconds optional; 0–9 fraction digits; offset `Z`, `+hh`, `+hhmm`,
//! `+hh:mm`, or none for UTC) is rewritten in UTC as Autotask writes dates:
//! `yyyy-MM-ddTHH:mm:ssZ` without a fraction, `yyyy-MM-ddTHH:mm:ss.fffZ` with
//! one (cut to milliseconds, never rounded up, so a `>=` bound never moves
//! later). Any other string is passed on as written.
//!
//! The clause is taken as it appears in the URL: `%XX` escapes are decoded, `+`
//! is left alone (offsets such as `+0000` are not spaces). A `%` not followed by
//! two hex digits is literal; write a `like` wildcard that is followed by hex
//! digits (`'%ab%'`) as `%25`.

use chrono::{Datelike, FixedOffset, NaiveDate, NaiveDateTime, NaiveTime, Timelike};
use serde_json::Value;

use super::filter::{Filter, Op};

/// A where clause that cannot become Autotask filters, with where and why.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("where clause, at character {position}: {message}")]
pub struct CeqlError {
    /// 0-based character position in the clause as given (still percent-encoded).
    pub position: usize,
    pub message: String,
}

/// The operators a condition may use, for error messages.
const OPERATORS: &str = "=, !=, <>, <, <=, >, >=, like, in, not in, is null, is not null";

/// How deeply parentheses may nest: far beyond any real clause, well within the stack.
const MAX_DEPTH: usize = 64;

/// Words that cannot be field names.
const KEYWORDS: [&str; 9] = ["and", "or", "not", "in", "like", "is", "null", "true", "false"];

/// Parses a where clause as it appears in a URL into Autotask filters, all of
/// which must hold (a top-level chain of ANDs becomes several filters).
pub fn parse_where(clause: &str) -> Result<Vec<Filter>, CeqlError> {
    let chars = percent_decode(clause)?;
    let tokens = tokenize(&chars, clause.chars().count())?;
    if tokens.len() == 1 {
        return Err(CeqlError { position: 0, message: "the where clause is empty".into() });
    }
    let mut parser = Parser { tokens, next: 0, depth: 0 };
    let expression = parser.or()?;
    let token = parser.peek();
    match token.kind {
        Kind::End => {}
        Kind::Close => return Err(token.error("unbalanced parenthesis: this `)` has no matching `(`".into())),
        _ => return Err(token.error(format!("expected `and`, `or` or the end of the clause, found {}", token.kind))),
    }
    Ok(if expression.op == Op::And { expression.items } else { vec![expression] })
}

/// The clause's characters with `%XX` escapes decoded, each with the position in
/// `clause` where it starts.
fn percent_decode(clause: &str) -> Result<Vec<(char, usize)>, CeqlError> {
    let chars: Vec<char> = clause.chars().collect();
    let mut bytes = Vec::with_capacity(clause.len());
    let mut positions = Vec::with_capacity(clause.len());
    let mut i = 0;
    while i < chars.len() {
        let escaped = match chars[i..] {
            ['%', high, low, ..] => high.to_digit(16).zip(low.to_digit(16)).map(|(h, l)| (h * 16 + l) as u8),
            _ => None,
        };
        if let Some(byte) = escaped {
            bytes.push(byte);
            positions.push(i);
            i += 3;
        } else {
            let mut buffer = [0; 4];
            for &byte in chars[i].encode_utf8(&mut buffer).as_bytes() {
                bytes.push(byte);
                positions.push(i);
            }
            i += 1;
        }
    }
    let text = String::from_utf8(bytes).map_err(|e| CeqlError {
        position: positions[e.utf8_error().valid_up_to()],
        message: "this `%` escape does not decode to UTF-8 text (write a literal `%` as `%25`)".into(),
    })?;
    Ok(text.char_indices().map(|(byte, c)| (c, positions[byte])).collect())
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// A field name or a keyword.
    Word(String),
    /// A quoted string, with the clause position of each of its characters.
    Str {
        text: String,
        positions: Vec<usize>,
    },
    Number(Value),
    /// A comparison operator and how it was written.
    Compare(Op, &'static str),
    Open,
    Close,
    Comma,
    End,
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Kind::Word(word) => write!(f, "`{word}`"),
            Kind::Str { text, .. } => write!(f, "the string '{}'", text.replace('\'', "''")),
            Kind::Number(number) => write!(f, "the number {number}"),
            Kind::Compare(_, written) => write!(f, "`{written}`"),
            Kind::Open => f.write_str("`(`"),
            Kind::Close => f.write_str("`)`"),
            Kind::Comma => f.write_str("`,`"),
            Kind::End => f.write_str("the end of the clause"),
        }
    }
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    position: usize,
}

impl Token {
    fn error(&self, message: String) -> CeqlError {
        CeqlError { position: self.position, message }
    }

    fn is_keyword(&self, keyword: &str) -> bool {
        matches!(&self.kind, Kind::Word(word) if word.eq_ignore_ascii_case(keyword))
    }
}

fn tokenize(chars: &[(char, usize)], end: usize) -> Result<Vec<Token>, CeqlError> {
    let error = |position: usize, message: String| CeqlError { position, message };
    let is_word_char = |c: char| c.is_alphanumeric() || c == '_' || c == '.';
    let mut tokens = Vec::new();
    let mut i = 0;
    while let Some(&(c, position)) = chars.get(i) {
        let start = i;
        i += 1;
        let kind = match c {
            c if c.is_whitespace() => continue,
            '(' => Kind::Open,
            ')' => Kind::Close,
            ',' => Kind::Comma,
            '\'' => {
                let mut text = String::new();
                let mut positions = Vec::new();
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(error(
                                position,
                                "unterminated string: this `'` is never closed (a quote inside a string is written `''`)"
                                    .into(),
                            ));
                        }
                        Some(&('\'', at)) if chars.get(i + 1).is_some_and(|&(next, _)| next == '\'') => {
                            text.push('\'');
                            positions.push(at);
                            i += 2;
                        }
                        Some(&('\'', _)) => {
                            i += 1;
                            break;
                        }
                        Some(&(c, at)) => {
                            text.push(c);
                            positions.push(at);
                            i += 1;
                        }
                    }
                }
                Kind::Str { text, positions }
            }
            '-' | '0'..='9' => {
                while chars.get(i).is_some_and(|&(c, _)| is_word_char(c)) {
                    i += 1;
                }
                let text: String = chars[start..i].iter().map(|&(c, _)| c).collect();
                Kind::Number(number(&text).ok_or_else(|| error(position, format!("`{text}` is not a number")))?)
            }
            c if c.is_alphabetic() || c == '_' => {
                while chars.get(i).is_some_and(|&(c, _)| is_word_char(c)) {
                    i += 1;
                }
                Kind::Word(chars[start..i].iter().map(|&(c, _)| c).collect())
            }
            '=' | '!' | '<' | '>' => {
                while chars.get(i).is_some_and(|&(c, _)| matches!(c, '=' | '!' | '<' | '>')) {
                    i += 1;
                }
                let written: String = chars[start..i].iter().map(|&(c, _)| c).collect();
                let (op, written) = match written.as_str() {
                    "=" => (Op::Eq, "="),
                    "!=" => (Op::NotEq, "!="),
                    "<>" => (Op::NotEq, "<>"),
                    "<" => (Op::Lt, "<"),
                    "<=" => (Op::Lte, "<="),
                    ">" => (Op::Gt, ">"),
                    ">=" => (Op::Gte, ">="),
                    _ => return Err(error(position, format!("unknown operator `{written}` (known: {OPERATORS})"))),
                };
                Kind::Compare(op, written)
            }
            '"' => return Err(error(position, "unexpected `\"`: strings are in single quotes".into())),
            other => return Err(error(position, format!("unexpected character `{other}`"))),
        };
        tokens.push(Token { kind, position });
    }
    tokens.push(Token { kind: Kind::End, position: end });
    Ok(tokens)
}

/// An integer or decimal, optionally negative, as a JSON number.
fn number(text: &str) -> Option<Value> {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, "0"));
    let all_digits = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || !all_digits(fraction) {
        return None;
    }
    if !digits.contains('.')
        && let Ok(integer) = text.parse::<i64>()
    {
        return Some(Value::from(integer));
    }
    serde_json::Number::from_f64(text.parse().ok()?).map(Value::Number)
}

struct Parser {
    tokens: Vec<Token>,
    next: usize,
    /// Parentheses open around the current position.
    depth: usize,
}

impl Parser {
    fn peek(&self) -> &Token {
        &self.tokens[self.next]
    }

    /// The next token; the end token repeats forever.
    fn advance(&mut self) -> Token {
        let token = self.tokens[self.next].clone();
        if self.next + 1 < self.tokens.len() {
            self.next += 1;
        }
        token
    }

    /// `and_chain ("or" and_chain)*`
    fn or(&mut self) -> Result<Filter, CeqlError> {
        let mut items = vec![self.and()?];
        while self.peek().is_keyword("or") {
            self.advance();
            items.push(self.and()?);
        }
        Ok(combine(Op::Or, items))
    }

    /// `primary ("and" primary)*`
    fn and(&mut self) -> Result<Filter, CeqlError> {
        let mut items = vec![self.primary()?];
        while self.peek().is_keyword("and") {
            self.advance();
            items.push(self.primary()?);
        }
        Ok(combine(Op::And, items))
    }

    /// `"(" or ")"` or a condition.
    fn primary(&mut self) -> Result<Filter, CeqlError> {
        let token = self.advance();
        match &token.kind {
            Kind::Open => {
                self.depth += 1;
                if self.depth > MAX_DEPTH {
                    return Err(token.error(format!("parentheses nest more than {MAX_DEPTH} deep")));
                }
                let inner = self.or()?;
                self.depth -= 1;
                let close = self.advance();
                match &close.kind {
                    Kind::Close => Ok(inner),
                    Kind::End => Err(token.error("unbalanced parenthesis: this `(` is never closed".into())),
                    other => Err(close.error(format!("expected `and`, `or` or `)`, found {other}"))),
                }
            }
            Kind::Word(field) if !KEYWORDS.iter().any(|k| field.eq_ignore_ascii_case(k)) => {
                self.condition(field.clone())
            }
            other => Err(token.error(format!("expected a condition (a field name or `(`), found {other}"))),
        }
    }

    /// What follows a field name: an operator and its value(s).
    fn condition(&mut self, field: String) -> Result<Filter, CeqlError> {
        let token = self.advance();
        match &token.kind {
            Kind::Compare(op, written) => Ok(Filter::condition(*op, field, self.value(written)?)),
            _ if token.is_keyword("like") => {
                let pattern = self.advance();
                match &pattern.kind {
                    Kind::Str { text, positions } => like(field, text, positions, pattern.position),
                    other => Err(pattern.error(format!("expected a 'pattern' after `like`, found {other}"))),
                }
            }
            _ if token.is_keyword("in") => Ok(Filter::condition(Op::In, field, self.list("in")?)),
            _ if token.is_keyword("not") => {
                let next = self.advance();
                if !next.is_keyword("in") {
                    return Err(next.error(format!("expected `in` after `not`, found {}", next.kind)));
                }
                Ok(Filter::condition(Op::NotIn, field, self.list("not in")?))
            }
            _ if token.is_keyword("is") => {
                let mut next = self.advance();
                let negated = next.is_keyword("not");
                if negated {
                    next = self.advance();
                }
                if !next.is_keyword("null") {
                    let after = if negated { "is not" } else { "is" };
                    return Err(next.error(format!("expected `null` after `{after}`, found {}", next.kind)));
                }
                Ok(Filter::presence(if negated { Op::Exist } else { Op::NotExist }, field))
            }
            Kind::Word(word) => Err(token.error(format!("unknown operator `{word}` (known: {OPERATORS})"))),
            other => Err(token.error(format!("expected an operator ({OPERATORS}) after `{field}`, found {other}"))),
        }
    }

    /// A value after an operator: a string (dates rewritten), a number, true or false.
    fn value(&mut self, after: &str) -> Result<Value, CeqlError> {
        let token = self.advance();
        match &token.kind {
            Kind::Str { text, .. } => match utc_date_time(text) {
                None => Ok(Value::from(text.as_str())),
                Some(Ok(date)) => Ok(Value::from(date)),
                Some(Err(message)) => Err(token.error(message)),
            },
            Kind::Number(number) => Ok(number.clone()),
            _ if token.is_keyword("true") => Ok(Value::Bool(true)),
            _ if token.is_keyword("false") => Ok(Value::Bool(false)),
            _ if token.is_keyword("null") => {
                Err(token.error("`null` is not a value to compare with: write `is null` or `is not null`".into()))
            }
            other => Err(token.error(format!(
                "missing value: expected a 'string', a number, true or false after `{after}`, found {other}"
            ))),
        }
    }

    /// `"(" value ("," value)* ")"`, as a JSON array.
    fn list(&mut self, after: &str) -> Result<Value, CeqlError> {
        let open = self.advance();
        if open.kind != Kind::Open {
            return Err(open.error(format!("expected `(` and a list of values after `{after}`, found {}", open.kind)));
        }
        let mut values = vec![self.value(after)?];
        loop {
            let token = self.advance();
            match &token.kind {
                Kind::Comma => values.push(self.value(",")?),
                Kind::Close => return Ok(Value::Array(values)),
                Kind::End => return Err(open.error("unbalanced parenthesis: this `(` is never closed".into())),
                other => return Err(token.error(format!("expected `,` or `)` in the list, found {other}"))),
            }
        }
    }
}

/// One filter for `items` joined by `op`, flattening nested groups of the same op.
fn combine(op: Op, items: Vec<Filter>) -> Filter {
    if items.len() == 1 {
        return items.into_iter().next().expect("one item");
    }
    let mut flat = Vec::with_capacity(items.len());
    for item in items {
        if item.op == op {
            flat.extend(item.items);
        } else {
            flat.push(item);
        }
    }
    Filter::group(op, flat)
}

/// `field like 'pattern'`: `%` at the start, the end or both picks the op.
fn like(field: String, pattern: &str, positions: &[usize], position: usize) -> Result<Filter, CeqlError> {
    let chars: Vec<char> = pattern.chars().collect();
    let starts = chars.first() == Some(&'%');
    let ends = chars.len() > usize::from(starts) && chars.last() == Some(&'%');
    let core = &chars[usize::from(starts)..chars.len() - usize::from(ends)];
    if let Some(i) = core.iter().position(|&c| c == '%') {
        return Err(CeqlError {
            position: positions[i + usize::from(starts)],
            message: "a `%` wildcard may only start or end a like pattern (Autotask has contains, beginsWith and \
                      endsWith, nothing else)"
                .into(),
        });
    }
    if core.is_empty() {
        return Err(CeqlError {
            position,
            message: "the like pattern has no text besides its `%` (to match any value, write `is not null`)".into(),
        });
    }
    let op = match (starts, ends) {
        (true, true) => Op::Contains,
        (false, true) => Op::BeginsWith,
        (true, false) => Op::EndsWith,
        (false, false) => Op::Eq,
    };
    Ok(Filter::condition(op, field, core.iter().collect::<String>()))
}

/// `text` in UTC as Autotask writes dates, if it is an ISO-8601 date-time; an
/// error if it has the shape of one but is not a real date or time.
fn utc_date_time(text: &str) -> Option<Result<String, String>> {
    let rest = &mut text.as_bytes();
    let year = digits(rest, 4)?;
    let month = after(rest, b"-", 2)?;
    let day = after(rest, b"-", 2)?;
    let hour = after(rest, b"Tt ", 2)?;
    let minute = after(rest, b":", 2)?;
    let (second, fraction) = if eat(rest, b":") {
        let second = digits(rest, 2)?;
        let fraction = if eat(rest, b".") {
            let count = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            if !(1..=9).contains(&count) {
                return None;
            }
            Some(digits(rest, count)? * 10u32.pow(9 - count as u32))
        } else {
            None
        };
        (second, fraction)
    } else {
        (0, None)
    };
    // An offset too large for `FixedOffset` makes the date-time invalid below.
    let offset_seconds = match rest.first() {
        None => 0,
        Some(b'Z' | b'z') if rest.len() == 1 => 0,
        Some(&sign @ (b'+' | b'-')) => {
            *rest = &rest[1..];
            let hours = digits(rest, 2)?;
            let minutes = match *rest {
                [] => 0,
                [b':', ..] => after(rest, b":", 2)?,
                _ => digits(rest, 2)?,
            };
            if !rest.is_empty() {
                return None;
            }
            let seconds = if minutes < 60 { (hours * 3600 + minutes * 60) as i32 } else { i32::MAX };
            if sign == b'-' { -seconds } else { seconds }
        }
        Some(_) => return None,
    };
    let invalid = || Some(Err(format!("`{text}` looks like a date-time but is not a valid one")));
    let Some(date) = NaiveDate::from_ymd_opt(year as i32, month, day) else { return invalid() };
    let Some(time) = NaiveTime::from_hms_nano_opt(hour, minute, second, fraction.unwrap_or(0)) else {
        return invalid();
    };
    let Some(offset) = FixedOffset::east_opt(offset_seconds) else { return invalid() };
    let utc = NaiveDateTime::new(date, time) - offset;
    let mut written = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        utc.year(),
        utc.month(),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second()
    );
    if fraction.is_some() {
        written.push_str(&format!(".{:03}", utc.nanosecond() / 1_000_000));
    }
    written.push('Z');
    Some(Ok(written))
}

/// Consumes exactly `count` ASCII digits from `rest`, as a number.
fn digits(rest: &mut &[u8], count: usize) -> Option<u32> {
    let (head, tail) = rest.split_at_checked(count)?;
    if !head.iter().all(u8::is_ascii_digit) {
        return None;
    }
    *rest = tail;
    Some(head.iter().fold(0, |n, d| n * 10 + u32::from(d - b'0')))
}

/// Consumes one of the `separators` and then `count` digits.
fn after(rest: &mut &[u8], separators: &[u8], count: usize) -> Option<u32> {
    if eat(rest, separators) { digits(rest, count) } else { None }
}

/// Consumes one byte of `rest` if it is one of `expected`.
fn eat(rest: &mut &[u8], expected: &[u8]) -> bool {
    match rest.split_first() {
        Some((first, tail)) if expected.contains(first) => {
            *rest = tail;
            true
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn filters(clause: &str) -> Value {
        serde_json::to_value(parse_where(clause).unwrap_or_else(|e| panic!("{clause}: {e}"))).unwrap()
    }

    fn error(clause: &str) -> (usize, String) {
        let error = parse_where(clause).expect_err(clause);
        (error.position, error.message)
    }

    fn condition(op: &str, field: &str, value: Value) -> Value {
        json!({"op": op, "field": field, "value": value})
    }

    #[test]
    fn comparison_operators() {
        for (written, op) in
            [("=", "eq"), ("!=", "noteq"), ("<>", "noteq"), ("<", "lt"), ("<=", "lte"), (">", "gt"), (">=", "gte")]
        {
            assert_eq!(filters(&format!("id {written} 7")), json!([condition(op, "id", json!(7))]), "{written}");
            assert_eq!(filters(&format!("id{written}7")), json!([condition(op, "id", json!(7))]), "{written}");
        }
    }

    #[test]
    fn like_wildcards_pick_contains_begins_with_ends_with_or_eq() {
        assert_eq!(filters("title like '%disk%'"), json!([condition("contains", "title", json!("disk"))]));
        assert_eq!(filters("title like 'disk%'"), json!([condition("beginsWith", "title", json!("disk"))]));
        assert_eq!(filters("title like '%disk'"), json!([condition("endsWith", "title", json!("disk"))]));
        assert_eq!(filters("title like 'disk'"), json!([condition("eq", "title", json!("disk"))]));
        assert_eq!(filters("title like 'a_b%'"), json!([condition("beginsWith", "title", json!("a_b"))]));
        assert_eq!(
            filters("t like '2024-06-01T12:00:00+0000%'"),
            json!([condition("beginsWith", "t", json!("2024-06-01T12:00:00+0000"))])
        );

        let (position, message) = error("title like 'di%sk'");
        assert_eq!(position, 14);
        assert!(message.contains("may only start or end"), "{message}");
        assert_eq!(error("title like '%%x%'").0, 13);
        assert!(error("title like '%'").1.contains("no text besides"));
        assert!(error("title like '%%'").1.contains("no text besides"));
        assert_eq!(error("title like 5"), (11, "expected a 'pattern' after `like`, found the number 5".into()));
    }

    #[test]
    fn in_and_not_in_take_a_list() {
        assert_eq!(filters("status in (1, 5,'x')"), json!([condition("in", "status", json!([1, 5, "x"]))]));
        assert_eq!(filters("status NOT IN (8)"), json!([condition("notIn", "status", json!([8]))]));
        assert_eq!(
            filters("d in ('2024-06-01T14:00:00+02:00')"),
            json!([condition("in", "d", json!(["2024-06-01T12:00:00Z"]))])
        );
        assert_eq!(error("status in ()").0, 11);
        assert_eq!(
            error("status in 1"),
            (10, "expected `(` and a list of values after `in`, found the number 1".into())
        );
        assert_eq!(error("status in (1 2)"), (13, "expected `,` or `)` in the list, found the number 2".into()));
        assert_eq!(error("status not like 'x'"), (11, "expected `in` after `not`, found `like`".into()));
    }

    #[test]
    fn is_null_and_is_not_null() {
        assert_eq!(filters("dueDateTime is null"), json!([{"op": "notExist", "field": "dueDateTime"}]));
        assert_eq!(filters("dueDateTime IS NOT NULL"), json!([{"op": "exist", "field": "dueDateTime"}]));
        assert_eq!(error("dueDateTime is 5"), (15, "expected `null` after `is`, found the number 5".into()));
        assert_eq!(
            error("dueDateTime is not"),
            (18, "expected `null` after `is not`, found the end of the clause".into())
        );
        assert!(error("dueDateTime = null").1.contains("write `is null` or `is not null`"));
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_group() {
        let (a, b, c) =
            (condition("eq", "a", json!(1)), condition("eq", "b", json!(2)), condition("eq", "c", json!(3)));
        assert_eq!(filters("a = 1 and b = 2 and c = 3"), json!([a, b, c]));
        assert_eq!(
            filters("a = 1 or b = 2 and c = 3"),
            json!([{"op": "or", "items": [a, {"op": "and", "items": [b, c]}]}])
        );
        assert_eq!(
            filters("a = 1 and b = 2 or c = 3"),
            json!([{"op": "or", "items": [{"op": "and", "items": [a, b]}, c]}])
        );
        assert_eq!(filters("(a = 1 or b = 2) and c = 3"), json!([{"op": "or", "items": [a, b]}, c]));
        assert_eq!(filters("((a = 1))"), json!([a]));
        let deep = format!("{}a = 1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert_eq!(filters(&deep), json!([a]));
        let too_deep = format!("{}a = 1{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
        assert_eq!(error(&too_deep), (MAX_DEPTH, format!("parentheses nest more than {MAX_DEPTH} deep")));
        assert_eq!(filters("(a = 1 and b = 2) and c = 3"), json!([a, b, c]), "same-op groups are flattened");
        assert_eq!(filters("a = 1 or (b = 2 or c = 3)"), json!([{"op": "or", "items": [a, b, c]}]));
        assert_eq!(filters("a = 1 AnD b = 2 oR c = 3"), filters("a = 1 and b = 2 or c = 3"));
    }

    #[test]
    fn nested_groups() {
        let (a, b, c, d) = (
            condition("eq", "a", json!(1)),
            condition("eq", "b", json!(2)),
            condition("eq", "c", json!(3)),
            condition("eq", "d", json!(4)),
        );
        assert_eq!(
            filters("(a = 1 or (b = 2 and (c = 3 or d = 4)))"),
            json!([{"op": "or", "items": [a, {"op": "and", "items": [b, {"op": "or", "items": [c, d]}]}]}])
        );
        assert_eq!(
            filters("x is not null and (a = 1 or b = 2) and (c = 3 or d = 4)"),
            json!([
                {"op": "exist", "field": "x"},
                {"op": "or", "items": [a, b]},
                {"op": "or", "items": [c, d]},
            ])
        );
    }

    #[test]
    fn strings_escape_quotes_by_doubling() {
        assert_eq!(filters("name = 'O''Brien'"), json!([condition("eq", "name", json!("O'Brien"))]));
        assert_eq!(filters("name = ''''"), json!([condition("eq", "name", json!("'"))]));
        assert_eq!(filters("name = ''"), json!([condition("eq", "name", json!(""))]));
        assert_eq!(filters("name = 'a and b = (c)'"), json!([condition("eq", "name", json!("a and b = (c)"))]));
        assert_eq!(filters("name like '%it''s%'"), json!([condition("contains", "name", json!("it's"))]));
    }

    #[test]
    fn numbers_and_booleans_are_json_values() {
        assert_eq!(
            filters(
                "a = -3 and b = 2.5 and c = 0 and d = true and e = FALSE and f = '5' and g = 12345678901 and h = -0.25"
            ),
            json!([
                condition("eq", "a", json!(-3)),
                condition("eq", "b", json!(2.5)),
                condition("eq", "c", json!(0)),
                condition("eq", "d", json!(true)),
                condition("eq", "e", json!(false)),
                condition("eq", "f", json!("5")),
                condition("eq", "g", json!(12345678901_i64)),
                condition("eq", "h", json!(-0.25)),
            ])
        );
        assert_eq!(filters("userDefined.Rank_2 >= 10"), json!([condition("gte", "userDefined.Rank_2", json!(10))]));
        assert_eq!(error("a = 1.2.3"), (4, "`1.2.3` is not a number".into()));
        assert_eq!(error("a = 12ab"), (4, "`12ab` is not a number".into()));
        assert_eq!(error("a = -"), (4, "`-` is not a number".into()));
        assert_eq!(error("a = 1."), (4, "`1.` is not a number".into()));
    }

    #[test]
    fn date_times_become_utc_as_autotask_writes_them() {
        for (written, utc) in [
            ("2024-06-01T12:34:56+0000", "2024-06-01T12:34:56Z"),
            ("2024-06-01T12:34:56+00:00", "2024-06-01T12:34:56Z"),
            ("2024-06-01T12:34:56Z", "2024-06-01T12:34:56Z"),
            ("2024-06-01T12:34:56z", "2024-06-01T12:34:56Z"),
            ("2024-06-01T12:34:56", "2024-06-01T12:34:56Z"),
            ("2024-06-01 12:34:56", "2024-06-01T12:34:56Z"),
            ("2024-06-01T12:34", "2024-06-01T12:34:00Z"),
            ("2024-06-01T14:34:56+0200", "2024-06-01T12:34:56Z"),
            ("2024-06-01T02:00:00-05:30", "2024-06-01T07:30:00Z"),
            ("2024-06-01T23:30:00-01", "2024-06-02T00:30:00Z"),
            ("2024-01-01T00:30:00+01:00", "2023-12-31T23:30:00Z"),
            ("2024-06-01T12:34:56.7Z", "2024-06-01T12:34:56.700Z"),
            ("2024-06-01T12:34:56.000Z", "2024-06-01T12:34:56.000Z"),
            ("2024-06-01 12:34:56.123456789+0100", "2024-06-01T11:34:56.123Z"),
            ("2024-06-01T12:34:56.9999Z", "2024-06-01T12:34:56.999Z"),
        ] {
            assert_eq!(filters(&format!("d >= '{written}'")), json!([condition("gte", "d", json!(utc))]), "{written}");
        }
        for other in
            ["2024-06-01", "12:34", "hello", "2024-06-01T12:34:56 tomorrow", "2024-06-01T12:34:56.Z", "2024-6-1T1:2:3Z"]
        {
            assert_eq!(filters(&format!("d = '{other}'")), json!([condition("eq", "d", json!(other))]), "{other}");
        }
        for invalid in
            ["2024-13-01T00:00:00Z", "2024-02-30T00:00:00Z", "2024-06-01T24:00:00Z", "2024-06-01T12:00:00+0160"]
        {
            assert_eq!(
                error(&format!("a = 1 or d >= '{invalid}'")),
                (14, format!("`{invalid}` looks like a date-time but is not a valid one"))
            );
        }
    }

    #[test]
    fn percent_escapes_are_decoded_but_plus_is_not_a_space() {
        assert_eq!(filters("name%20=%20%27O%27%27Brien%27"), json!([condition("eq", "name", json!("O'Brien"))]));
        assert_eq!(
            filters("d>=%272024-06-01T12:34:56+0000%27"),
            json!([condition("gte", "d", json!("2024-06-01T12:34:56Z"))])
        );
        assert_eq!(filters("name = 'a+b'"), json!([condition("eq", "name", json!("a+b"))]));
        assert_eq!(filters("name = 'caf%C3%A9'"), json!([condition("eq", "name", json!("café"))]));
        assert_eq!(filters("name like '%25ab%25'"), json!([condition("contains", "name", json!("ab"))]));
        assert_eq!(filters("name like '%xy%'"), json!([condition("contains", "name", json!("xy"))]));
        assert_eq!(filters("name like '%'''"), json!([condition("endsWith", "name", json!("'"))]));
        assert_eq!(
            error("a%20%3D%3D%201"),
            (4, format!("unknown operator `==` (known: {OPERATORS})")),
            "raw positions"
        );
        assert_eq!(error("a = '%FF'").0, 5);
        assert!(error("name like '%ab%'").1.contains("write a literal `%` as `%25`"));
    }

    #[test]
    fn errors_name_the_position_and_what_was_expected() {
        let (position, message) = error("lastActivityDate>='2024-06-01T12:34:56+0000''");
        assert_eq!(position, 18, "where the unterminated string starts");
        assert!(message.starts_with("unterminated string"), "{message}");

        assert_eq!(error("status == 5"), (7, format!("unknown operator `==` (known: {OPERATORS})")));
        assert_eq!(error("status equals 5"), (7, format!("unknown operator `equals` (known: {OPERATORS})")));
        assert_eq!(error("status ~ 5"), (7, "unexpected character `~`".into()));
        assert_eq!(error("status = \"x\""), (9, "unexpected `\"`: strings are in single quotes".into()));
        assert_eq!(
            error("status 5"),
            (7, format!("expected an operator ({OPERATORS}) after `status`, found the number 5"))
        );

        assert_eq!(error("(a = 1 and b = 2"), (0, "unbalanced parenthesis: this `(` is never closed".into()));
        assert_eq!(error("a = 1)"), (5, "unbalanced parenthesis: this `)` has no matching `(`".into()));
        assert_eq!(error("a in (1, 2"), (5, "unbalanced parenthesis: this `(` is never closed".into()));
        assert_eq!(error("(a = 1 b = 2)"), (7, "expected `and`, `or` or `)`, found `b`".into()));

        assert_eq!(error("a = 1 b = 2"), (6, "expected `and`, `or` or the end of the clause, found `b`".into()));
        assert_eq!(
            error("a = 1 'x'"),
            (6, "expected `and`, `or` or the end of the clause, found the string 'x'".into())
        );

        let missing = "missing value: expected a 'string', a number, true or false after `>=`";
        assert_eq!(error("a >="), (4, format!("{missing}, found the end of the clause")));
        assert_eq!(error("a >= and b = 1"), (5, format!("{missing}, found `and`")));

        assert_eq!(error(""), (0, "the where clause is empty".into()));
        assert_eq!(error("  "), (0, "the where clause is empty".into()));
        assert_eq!(error("= 1"), (0, "expected a condition (a field name or `(`), found `=`".into()));
        assert_eq!(
            error("a = 1 and"),
            (9, "expected a condition (a field name or `(`), found the end of the clause".into())
        );
        assert_eq!(error("()"), (1, "expected a condition (a field name or `(`), found `)`".into()));
        assert_eq!(error("in = 1"), (0, "expected a condition (a field name or `(`), found `in`".into()));

        let error = parse_where("a ==").unwrap_err();
        assert_eq!(
            error.to_string(),
            format!("where clause, at character 2: unknown operator `==` (known: {OPERATORS})")
        );
    }
}
