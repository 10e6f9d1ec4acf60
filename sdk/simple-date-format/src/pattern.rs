//! Compiling a SimpleDateFormat pattern into tokens, with Java's quoting rules.

use thiserror::Error;

/// Why a pattern could not be compiled, naming the problem and where it is.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PatternError {
    /// An ASCII letter outside quotes that Java does not define (Java: "Illegal pattern character").
    #[error("unsupported pattern letter '{letter}' at position {position}")]
    UnsupportedLetter {
        /// The offending letter.
        letter: char,
        /// Its 0-based character position in the pattern.
        position: usize,
    },
    /// A quote opened and never closed (Java's message is "Unterminated quote").
    #[error("Unterminated quote: the quote opened at position {position} is never closed")]
    UnterminatedQuote {
        /// The 0-based character position of the opening quote.
        position: usize,
    },
    /// `X` repeated more than three times (Java: "invalid ISO 8601 format: length=4").
    #[error("invalid ISO 8601 format: 'X' repeated {count} times at position {position} (at most 3)")]
    IsoZoneTooLong {
        /// How many times `X` was repeated.
        count: usize,
        /// The 0-based character position of the first `X`.
        position: usize,
    },
}

/// A pattern letter, i.e. one of Java's calendar fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Letter {
    /// `G`
    Era,
    /// `y`
    Year,
    /// `Y`
    WeekYear,
    /// `M` (format form; same as `L` in English)
    Month,
    /// `L`
    MonthStandalone,
    /// `w`
    WeekOfYear,
    /// `W`
    WeekOfMonth,
    /// `D`
    DayOfYear,
    /// `d`
    DayOfMonth,
    /// `F`
    DayOfWeekInMonth,
    /// `E`
    DayName,
    /// `u` (1 = Monday)
    DayNumber,
    /// `a`
    AmPm,
    /// `H` (0-23)
    HourOfDay0,
    /// `k` (1-24)
    HourOfDay1,
    /// `K` (0-11)
    Hour0,
    /// `h` (1-12)
    Hour1,
    /// `m`
    Minute,
    /// `s`
    Second,
    /// `S` (milliseconds as a number, not a fraction)
    Millisecond,
    /// `z`
    ZoneName,
    /// `Z` (RFC 822, `-0800`)
    ZoneRfc822,
    /// `X` (ISO 8601, `-08`, `-0800`, `-08:00`, `Z`)
    ZoneIso,
}

impl Letter {
    fn from_char(c: char) -> Option<Letter> {
        Some(match c {
            'G' => Letter::Era,
            'y' => Letter::Year,
            'Y' => Letter::WeekYear,
            'M' => Letter::Month,
            'L' => Letter::MonthStandalone,
            'w' => Letter::WeekOfYear,
            'W' => Letter::WeekOfMonth,
            'D' => Letter::DayOfYear,
            'd' => Letter::DayOfMonth,
            'F' => Letter::DayOfWeekInMonth,
            'E' => Letter::DayName,
            'u' => Letter::DayNumber,
            'a' => Letter::AmPm,
            'H' => Letter::HourOfDay0,
            'k' => Letter::HourOfDay1,
            'K' => Letter::Hour0,
            'h' => Letter::Hour1,
            'm' => Letter::Minute,
            's' => Letter::Second,
            'S' => Letter::Millisecond,
            'z' => Letter::ZoneName,
            'Z' => Letter::ZoneRfc822,
            'X' => Letter::ZoneIso,
            _ => return None,
        })
    }

    /// The pattern character, for error messages.
    pub(crate) fn as_char(self) -> char {
        match self {
            Letter::Era => 'G',
            Letter::Year => 'y',
            Letter::WeekYear => 'Y',
            Letter::Month => 'M',
            Letter::MonthStandalone => 'L',
            Letter::WeekOfYear => 'w',
            Letter::WeekOfMonth => 'W',
            Letter::DayOfYear => 'D',
            Letter::DayOfMonth => 'd',
            Letter::DayOfWeekInMonth => 'F',
            Letter::DayName => 'E',
            Letter::DayNumber => 'u',
            Letter::AmPm => 'a',
            Letter::HourOfDay0 => 'H',
            Letter::HourOfDay1 => 'k',
            Letter::Hour0 => 'K',
            Letter::Hour1 => 'h',
            Letter::Minute => 'm',
            Letter::Second => 's',
            Letter::Millisecond => 'S',
            Letter::ZoneName => 'z',
            Letter::ZoneRfc822 => 'Z',
            Letter::ZoneIso => 'X',
        }
    }

    /// Whether the field is a number when written `count` times (Java's numeric fields;
    /// months become names from three letters on).
    pub(crate) fn is_numeric(self, count: usize) -> bool {
        match self {
            Letter::Month | Letter::MonthStandalone => count <= 2,
            Letter::Era | Letter::DayName | Letter::AmPm | Letter::ZoneName | Letter::ZoneRfc822 | Letter::ZoneIso => {
                false
            }
            _ => true,
        }
    }
}

/// One element of a compiled pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Token {
    /// Text copied verbatim (quoted text, `''`, and non-letter characters).
    Literal(String),
    /// A field: the letter and how many times it was repeated.
    Field { letter: Letter, count: usize },
}

/// Splits `pattern` into tokens exactly as `SimpleDateFormat.compile` does: `'...'` quotes
/// literal text, `''` is one quote both inside and outside quotes, ASCII letters outside
/// quotes are fields, everything else is literal. Adjacent literal pieces are merged.
pub(crate) fn compile(pattern: &str) -> Result<Vec<Token>, PatternError> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut tokens = Vec::new();
    let mut literal = String::new();
    let mut quote_start: Option<usize> = None;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                // `''` is a literal quote whether or not we are inside quotes.
                literal.push('\'');
                i += 2;
                continue;
            }
            quote_start = match quote_start {
                None => Some(i),
                Some(_) => None,
            };
            i += 1;
            continue;
        }
        if quote_start.is_some() || !c.is_ascii_alphabetic() {
            literal.push(c);
            i += 1;
            continue;
        }
        let letter = Letter::from_char(c).ok_or(PatternError::UnsupportedLetter { letter: c, position: i })?;
        let start = i;
        while i < chars.len() && chars[i] == c {
            i += 1;
        }
        let count = i - start;
        if letter == Letter::ZoneIso && count > 3 {
            return Err(PatternError::IsoZoneTooLong { count, position: start });
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(std::mem::take(&mut literal)));
        }
        tokens.push(Token::Field { letter, count });
    }
    if let Some(position) = quote_start {
        return Err(PatternError::UnterminatedQuote { position });
    }
    if !literal.is_empty() {
        tokens.push(Token::Literal(literal));
    }
    Ok(tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(s: &str) -> Token {
        Token::Literal(s.to_string())
    }

    fn field(letter: Letter, count: usize) -> Token {
        Token::Field { letter, count }
    }

    #[test]
    fn quoting_rules() {
        assert_eq!(
            compile("yyyy-MM-dd'T'HH").unwrap(),
            vec![
                field(Letter::Year, 4),
                lit("-"),
                field(Letter::Month, 2),
                lit("-"),
                field(Letter::DayOfMonth, 2),
                lit("T"),
                field(Letter::HourOfDay0, 2)
            ]
        );
        assert_eq!(compile("''").unwrap(), vec![lit("'")]);
        assert_eq!(compile("h 'o''clock'").unwrap(), vec![field(Letter::Hour1, 1), lit(" o'clock")]);
        assert_eq!(compile("'yMd'").unwrap(), vec![lit("yMd")]);
    }

    #[test]
    fn unsupported_letter_names_letter_and_position() {
        let err = compile("yyyy-q").unwrap_err();
        assert_eq!(err, PatternError::UnsupportedLetter { letter: 'q', position: 5 });
        assert_eq!(err.to_string(), "unsupported pattern letter 'q' at position 5");
        // Letters inside quotes are literal, so only the unquoted one counts.
        assert_eq!(compile("'q'yyyyb").unwrap_err().to_string(), "unsupported pattern letter 'b' at position 7");
    }

    #[test]
    fn unterminated_quote_uses_javas_words() {
        let err = compile("yyyy-MM-dd'T").unwrap_err();
        assert_eq!(err, PatternError::UnterminatedQuote { position: 10 });
        assert!(err.to_string().starts_with("Unterminated quote"), "{err}");
        assert!(err.to_string().contains("position 10"), "{err}");
    }

    #[test]
    fn iso_zone_at_most_three_letters() {
        assert!(matches!(compile("XXXX"), Err(PatternError::IsoZoneTooLong { count: 4, position: 0 })));
    }
}
