//! Java SimpleDateFormat patterns: format and parse with Java's semantics.
