//! Python params files, read as DVC reads them (`dvc/utils/serialize/_py.py`) without running
//! them: the module's top-level `NAME = literal` (and `NAME: type = literal`) assignments, and
//! for each top-level class a mapping under its name of its own assignments and the
//! `self.NAME = literal` assignments directly in its `__init__`. Everything else (imports,
//! functions, `if` blocks, assignments of anything but a literal) is passed over, as DVC does.
//!
//! Literals are what `ast.literal_eval` takes and a params value can hold: numbers, strings,
//! `True`/`False`/`None`, and lists, tuples (as lists) and dicts of them. A literal that DVC
//! reads but no params value can hold (a set, bytes, a complex number, `...`, an integer beyond
//! 64 bits) is an error naming its line, not a silent gap.
//!
//! Only enough of Python's grammar is understood to find statements: a tokenizer (strings,
//! f-strings, brackets, indentation, line joining) and the shape of blocks. Errors Python would
//! also refuse (an unterminated string, an unclosed bracket, a bad indent) name their line.

use serde_norway::{Mapping, Number, Value};

/// Deepest nesting of brackets, blocks or strings inside f-strings: CPython's tokenizer stops at
/// 100 levels of indentation; a params file needs far fewer, and recursion stays shallow.
const MAX_NESTING: usize = 100;

/// Parses the text of a Python params file into a mapping. Errors start with `line N:`.
pub(super) fn parse(text: &str) -> Result<Value, String> {
    // Python reads source with universal newlines, and tolerates a byte-order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    if let Some(line) = text.lines().position(|l| l.contains('\0')) {
        return Err(format!(
            "line {}: a NUL character; this is not a Python source file",
            line + 1
        ));
    }
    let tokens = Lexer::new(&text).run()?;
    let mut statements = Statements {
        tokens: &tokens,
        pos: 0,
        refused: Vec::new(),
    };
    let map = statements.block(false)?;
    statements.check(&map)?;
    Ok(Value::Mapping(map))
}

// ------------------------------------------------------------------------------------- tokens

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Name(String),
    /// A number as written (`1_000`, `0x1f`, `1e-3`, `2j`), read only when it is used.
    Number(String),
    Str(Str),
    Op(&'static str),
    /// The end of a logical line.
    Newline,
    Indent,
    Dedent,
}

/// A string literal.
#[derive(Debug, Clone, PartialEq)]
enum Str {
    Text(String),
    Bytes,
    /// An f-string (or t-string): an expression, not a literal.
    Format,
    /// A str that a params value cannot hold (a `\N{…}` escape, a lone surrogate).
    Odd(&'static str),
}

#[derive(Debug, Clone)]
struct Token {
    kind: Kind,
    line: usize,
}

/// Operators, longest first so that `**=` is not read as `**` and `=`.
const OPERATORS: &[&str] = &[
    "**=", "//=", ">>=", "<<=", "...", "**", "//", ">>", "<<", "<=", ">=", "==", "!=", "->", ":=",
    "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "@=", "+", "-", "*", "/", "%", "@", "&", "|",
    "^", "~", "<", ">", "(", ")", "[", "]", "{", "}", ",", ":", ";", ".", "=",
];

struct Lexer {
    chars: Vec<char>,
    pos: usize,
    line: usize,
    tokens: Vec<Token>,
    /// Columns of the enclosing blocks; the module's is 0.
    indents: Vec<usize>,
    /// Open brackets and the lines they opened on.
    brackets: Vec<(char, usize)>,
    /// Whether the current logical line has a token yet.
    line_has_tokens: bool,
}

fn at(line: usize, message: impl std::fmt::Display) -> String {
    format!("line {line}: {message}")
}

impl Lexer {
    fn new(text: &str) -> Lexer {
        Lexer {
            chars: text.chars().collect(),
            pos: 0,
            line: 1,
            tokens: Vec::new(),
            indents: vec![0],
            brackets: Vec::new(),
            line_has_tokens: false,
        }
    }

    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn push(&mut self, kind: Kind, line: usize) {
        self.tokens.push(Token { kind, line });
        self.line_has_tokens = true;
    }

    fn end_line(&mut self) {
        if self.line_has_tokens {
            self.tokens.push(Token {
                kind: Kind::Newline,
                line: self.line,
            });
            self.line_has_tokens = false;
        }
    }

    fn run(mut self) -> Result<Vec<Token>, String> {
        let mut line_start = true;
        loop {
            if line_start && self.brackets.is_empty() {
                line_start = false;
                if !self.indentation()? {
                    line_start = true;
                    continue;
                }
            }
            let Some(c) = self.peek(0) else { break };
            match c {
                ' ' | '\t' | '\x0c' => self.pos += 1,
                '#' => self.skip_comment(),
                '\n' => {
                    self.pos += 1;
                    if self.brackets.is_empty() {
                        self.end_line();
                        line_start = true;
                    }
                    self.line += 1;
                }
                '\\' => match self.peek(1) {
                    Some('\n') => {
                        self.pos += 2;
                        self.line += 1;
                    }
                    None => return Err(at(self.line, "the file ends after a '\\'")),
                    Some(_) => {
                        return Err(at(
                            self.line,
                            "unexpected character after line continuation character '\\'",
                        ));
                    }
                },
                '"' | '\'' => {
                    let line = self.line;
                    let s = self.string("", 0)?;
                    self.push(Kind::Str(s), line);
                }
                c if c.is_ascii_digit()
                    || (c == '.' && self.peek(1).is_some_and(|d| d.is_ascii_digit())) =>
                {
                    let number = self.number();
                    self.push(Kind::Number(number), self.line);
                }
                c if c == '_' || c.is_alphabetic() => {
                    let start = self.pos;
                    while self
                        .peek(0)
                        .is_some_and(|c| c == '_' || c.is_alphanumeric())
                    {
                        self.pos += 1;
                    }
                    let word: String = self.chars[start..self.pos].iter().collect();
                    let quote = matches!(self.peek(0), Some('"' | '\''));
                    if quote && is_string_prefix(&word) {
                        let line = self.line;
                        let s = self.string(&word, 0)?;
                        self.push(Kind::Str(s), line);
                    } else {
                        self.push(Kind::Name(word), self.line);
                    }
                }
                _ => self.operator()?,
            }
        }
        if let Some((open, line)) = self.brackets.last() {
            return Err(at(*line, format!("'{open}' was never closed")));
        }
        self.end_line();
        for _ in 1..self.indents.len() {
            self.tokens.push(Token {
                kind: Kind::Dedent,
                line: self.line,
            });
        }
        Ok(self.tokens)
    }

    /// Measures the indentation of a new line and emits INDENT/DEDENT. Returns false for a line
    /// with nothing on it (blank or a comment), which it consumes.
    fn indentation(&mut self) -> Result<bool, String> {
        let mut column = 0;
        while let Some(c) = self.peek(0) {
            match c {
                ' ' => column += 1,
                '\t' => column = (column / 8 + 1) * 8,
                '\x0c' => column = 0,
                _ => break,
            }
            self.pos += 1;
        }
        match self.peek(0) {
            None => return Ok(true),
            Some('#') => {
                self.skip_comment();
                return self.blank_line_end();
            }
            Some('\n') => return self.blank_line_end(),
            Some(_) => {}
        }
        let top = self.indents.last().copied().unwrap_or(0);
        if column > top {
            if self.indents.len() > MAX_NESTING {
                return Err(at(
                    self.line,
                    format!("more than {MAX_NESTING} levels of indentation"),
                ));
            }
            self.indents.push(column);
            self.push(Kind::Indent, self.line);
            self.line_has_tokens = false;
        } else {
            while column < self.indents.last().copied().unwrap_or(0) {
                self.indents.pop();
                self.tokens.push(Token {
                    kind: Kind::Dedent,
                    line: self.line,
                });
            }
            if self.indents.last().copied().unwrap_or(0) != column {
                return Err(at(
                    self.line,
                    "unindent does not match any outer indentation level",
                ));
            }
        }
        Ok(true)
    }

    fn blank_line_end(&mut self) -> Result<bool, String> {
        if self.peek(0) == Some('\n') {
            self.pos += 1;
            self.line += 1;
        }
        Ok(false)
    }

    fn skip_comment(&mut self) {
        while self.peek(0).is_some_and(|c| c != '\n') {
            self.pos += 1;
        }
    }

    fn operator(&mut self) -> Result<(), String> {
        let line = self.line;
        let found = OPERATORS
            .iter()
            .copied()
            .find(|op| op.chars().enumerate().all(|(i, c)| self.peek(i) == Some(c)));
        let Some(op) = found else {
            let c = self.peek(0).unwrap_or(' ');
            return Err(at(
                line,
                format!("invalid character '{c}' (U+{:04X})", c as u32),
            ));
        };
        match op {
            "(" | "[" | "{" => {
                if self.brackets.len() >= MAX_NESTING {
                    return Err(at(line, format!("more than {MAX_NESTING} nested brackets")));
                }
                let c = op.chars().next().unwrap_or('(');
                self.brackets.push((c, line));
            }
            ")" | "]" | "}" => {
                let want = match op {
                    ")" => '(',
                    "]" => '[',
                    _ => '{',
                };
                match self.brackets.pop() {
                    Some((open, _)) if open == want => {}
                    Some((open, opened)) => {
                        return Err(at(
                            line,
                            format!(
                                "closing '{op}' does not match '{open}' opened on line {opened}"
                            ),
                        ));
                    }
                    None => return Err(at(line, format!("unmatched '{op}'"))),
                }
            }
            _ => {}
        }
        self.pos += op.chars().count();
        self.push(Kind::Op(op), line);
        Ok(())
    }

    /// A number token as written: digits, letters (`0x`, `e`, `j`), `_`, `.`, and a sign
    /// right after a decimal exponent.
    fn number(&mut self) -> String {
        let start = self.pos;
        let radix = self.peek(0) == Some('0')
            && matches!(self.peek(1), Some('x' | 'X' | 'o' | 'O' | 'b' | 'B'));
        while let Some(c) = self.peek(0) {
            let sign = matches!(c, '+' | '-')
                && !radix
                && matches!(self.chars.get(self.pos.wrapping_sub(1)), Some('e' | 'E'));
            if c.is_ascii_alphanumeric() || c == '_' || c == '.' || sign {
                self.pos += 1;
            } else {
                break;
            }
        }
        self.chars[start..self.pos].iter().collect()
    }

    /// A string literal whose prefix (`r`, `b`, `f`, …) is already read; `self.pos` is at its
    /// opening quote. `depth` counts the f-strings it is inside.
    fn string(&mut self, prefix: &str, depth: usize) -> Result<Str, String> {
        if depth > MAX_NESTING {
            return Err(at(
                self.line,
                format!("more than {MAX_NESTING} strings nested in f-strings"),
            ));
        }
        let lower = prefix.to_ascii_lowercase();
        let raw = lower.contains('r');
        let bytes = lower.contains('b');
        let format = lower.contains('f') || lower.contains('t');
        let start_line = self.line;
        let quote = self.peek(0).unwrap_or('"');
        let triple = self.peek(1) == Some(quote) && self.peek(2) == Some(quote);
        self.pos += if triple { 3 } else { 1 };
        let unterminated = || {
            at(
                start_line,
                if triple {
                    "unterminated triple-quoted string literal"
                } else {
                    "unterminated string literal"
                },
            )
        };
        let mut text = String::new();
        let mut odd = None;
        loop {
            let Some(c) = self.peek(0) else {
                return Err(unterminated());
            };
            match c {
                '\\' => {
                    let Some(next) = self.peek(1) else {
                        return Err(unterminated());
                    };
                    if next == '\n' {
                        self.line += 1;
                    }
                    if raw {
                        // The backslash stays, and keeps the quote after it from ending the
                        // string.
                        text.push('\\');
                        text.push(next);
                        self.pos += 2;
                    } else {
                        self.pos += 1;
                        self.escape(bytes, &mut text, &mut odd)?;
                    }
                }
                '\n' if !triple => return Err(unterminated()),
                '\n' => {
                    self.line += 1;
                    text.push('\n');
                    self.pos += 1;
                }
                c if c == quote => {
                    if !triple {
                        self.pos += 1;
                        break;
                    }
                    if self.peek(1) == Some(quote) && self.peek(2) == Some(quote) {
                        self.pos += 3;
                        break;
                    }
                    text.push(c);
                    self.pos += 1;
                }
                '{' if format => {
                    if self.peek(1) == Some('{') {
                        self.pos += 2;
                    } else {
                        self.pos += 1;
                        self.replacement_field(depth, &unterminated)?;
                    }
                }
                c => {
                    text.push(c);
                    self.pos += 1;
                }
            }
        }
        Ok(if format {
            Str::Format
        } else if bytes {
            Str::Bytes
        } else if let Some(what) = odd {
            Str::Odd(what)
        } else {
            Str::Text(text)
        })
    }

    /// Skips an f-string's `{…}` field (the `{` is read), strings inside it included: since
    /// Python 3.12 they may use the f-string's own quote.
    fn replacement_field(
        &mut self,
        depth: usize,
        unterminated: &dyn Fn() -> String,
    ) -> Result<(), String> {
        let mut open = 1usize;
        while open > 0 {
            let Some(c) = self.peek(0) else {
                return Err(unterminated());
            };
            match c {
                '{' => {
                    open += 1;
                    if open > MAX_NESTING {
                        return Err(at(
                            self.line,
                            format!("more than {MAX_NESTING} nested braces"),
                        ));
                    }
                    self.pos += 1;
                }
                '}' => {
                    open -= 1;
                    self.pos += 1;
                }
                '\n' => {
                    self.line += 1;
                    self.pos += 1;
                }
                '"' | '\'' => {
                    // A prefix right before the quote makes no difference to where it ends
                    // unless it is raw; raw strings inside fields are rare enough to read plain.
                    self.string("", depth + 1)?;
                }
                _ => self.pos += 1,
            }
        }
        Ok(())
    }

    /// Decodes one escape of a non-raw string; `self.pos` is just after the backslash.
    fn escape(
        &mut self,
        bytes: bool,
        text: &mut String,
        odd: &mut Option<&'static str>,
    ) -> Result<(), String> {
        let line = self.line;
        let Some(c) = self.peek(0) else {
            return Err(at(line, "unterminated string literal"));
        };
        self.pos += 1;
        let simple = match c {
            '\n' => return Ok(()),
            '\\' | '\'' | '"' => Some(c),
            'a' => Some('\x07'),
            'b' => Some('\x08'),
            'f' => Some('\x0c'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\x0b'),
            _ => None,
        };
        if let Some(s) = simple {
            text.push(s);
            return Ok(());
        }
        let mut hex = |len: usize, name: &str| -> Result<u32, String> {
            let digits: String = (0..len).filter_map(|i| self.peek(i)).collect();
            if digits.chars().count() != len || !digits.chars().all(|d| d.is_ascii_hexdigit()) {
                return Err(at(line, format!("truncated \\{name} escape in a string")));
            }
            self.pos += len;
            u32::from_str_radix(&digits, 16).map_err(|e| at(line, e))
        };
        match c {
            '0'..='7' => {
                let mut value = c.to_digit(8).unwrap_or(0);
                for _ in 0..2 {
                    match self.peek(0).and_then(|d| d.to_digit(8)) {
                        Some(d) => {
                            value = value * 8 + d;
                            self.pos += 1;
                        }
                        None => break,
                    }
                }
                text.push(char::from_u32(value).unwrap_or('\u{fffd}'));
            }
            'x' => {
                let value = hex(2, "xXX")?;
                text.push(char::from_u32(value).unwrap_or('\u{fffd}'));
            }
            'u' | 'U' if !bytes => {
                let value = if c == 'u' {
                    hex(4, "uXXXX")?
                } else {
                    hex(8, "UXXXXXXXX")?
                };
                if value > 0x10ffff {
                    return Err(at(line, "illegal Unicode character in a \\U escape"));
                }
                match char::from_u32(value) {
                    Some(ch) => text.push(ch),
                    None => {
                        *odd = Some("a string with a lone surrogate escape (\\ud800 to \\udfff)")
                    }
                }
            }
            'N' if !bytes => {
                if self.peek(0) != Some('{') {
                    return Err(at(line, "malformed \\N character escape in a string"));
                }
                while let Some(ch) = self.peek(0) {
                    self.pos += 1;
                    if ch == '}' {
                        *odd = Some("a string with a \\N{…} escape");
                        return Ok(());
                    }
                    if ch == '\n' || ch == '"' || ch == '\'' {
                        break;
                    }
                }
                return Err(at(line, "malformed \\N character escape in a string"));
            }
            other => {
                // Python keeps an unknown escape as written (with a warning).
                text.push('\\');
                text.push(other);
            }
        }
        Ok(())
    }
}

/// Whether `word` right before a quote makes it a prefixed string (`r"…"`, `Rb'…'`, `f"…"`).
fn is_string_prefix(word: &str) -> bool {
    matches!(
        word.to_ascii_lowercase().as_str(),
        "r" | "u" | "b" | "br" | "rb" | "f" | "fr" | "rf" | "t" | "tr" | "rt"
    )
}

// --------------------------------------------------------------------------------- statements

/// The tag of the stand-in for a value no params value can hold (see [`Statements::refused`]).
const REFUSED: &str = "!cairn-refused";

struct Statements<'t> {
    tokens: &'t [Token],
    pos: usize,
    /// Why each stand-in was put in place of a value, by its number. A value that is assigned
    /// again later (or sits in a block DVC does not read) never reaches the result, so the
    /// error waits for the end: only a stand-in still in the result is reported.
    refused: Vec<(usize, String)>,
}

/// Compound statements whose bodies DVC never looks into.
const COMPOUND: &[&str] = &[
    "if", "elif", "else", "for", "while", "try", "except", "finally", "with", "async",
];

fn is_op(token: &Token, op: &str) -> bool {
    matches!(&token.kind, Kind::Op(o) if *o == op)
}

/// The positions in `line` of `op` outside any brackets.
fn top_level(line: &[Token], op: &str) -> Vec<usize> {
    let mut depth = 0usize;
    let mut found = Vec::new();
    for (i, t) in line.iter().enumerate() {
        match &t.kind {
            Kind::Op("(" | "[" | "{") => depth += 1,
            Kind::Op(")" | "]" | "}") => depth = depth.saturating_sub(1),
            Kind::Op(o) if depth == 0 && *o == op => found.push(i),
            _ => {}
        }
    }
    found
}

impl Statements<'_> {
    fn line_of_next(&self) -> usize {
        self.tokens
            .get(self.pos)
            .or(self.tokens.last())
            .map_or(1, |t| t.line)
    }

    /// The error for the first stand-in (by line) left in `map`, if any.
    fn check(&self, map: &Mapping) -> Result<(), String> {
        fn first(value: &Value, found: &mut Option<usize>) {
            match value {
                Value::Tagged(t) if t.tag == REFUSED => {
                    if let Some(n) = t.value.as_u64() {
                        let n = n as usize;
                        *found = Some(found.map_or(n, |f| f.min(n)));
                    }
                }
                Value::Mapping(m) => m.values().for_each(|v| first(v, found)),
                _ => {}
            }
        }
        let mut found = None;
        map.values().for_each(|v| first(v, &mut found));
        match found.and_then(|n| self.refused.get(n)) {
            Some((line, message)) => Err(at(*line, message)),
            None => Ok(()),
        }
    }

    /// Statements up to the end of the block (a DEDENT, left for the caller) as DVC's
    /// `_ast_tree_to_dict` reads them; `only_self` for the body of an `__init__`.
    fn block(&mut self, only_self: bool) -> Result<Mapping, String> {
        let mut map = Mapping::new();
        loop {
            match self.tokens.get(self.pos).map(|t| &t.kind) {
                None | Some(Kind::Dedent) => break,
                Some(Kind::Newline) => {
                    self.pos += 1;
                    continue;
                }
                Some(Kind::Indent) => return Err(at(self.line_of_next(), "unexpected indent")),
                Some(_) => {}
            }
            let start = self.pos;
            let end = self.tokens[start..]
                .iter()
                .position(|t| t.kind == Kind::Newline)
                .map_or(self.tokens.len(), |n| start + n);
            let line = &self.tokens[start..end];
            self.pos = (end + 1).min(self.tokens.len());
            let line_no = line.first().map_or(1, |t| t.line);
            let head = match &line[0].kind {
                Kind::Name(n) => n.as_str(),
                Kind::Op("@") => continue, // a decorator: the class or def follows
                _ => "",
            };
            let ends_block = line.last().is_some_and(|t| is_op(t, ":"));
            match head {
                "class" | "def" => {
                    let Some(Kind::Name(name)) = line.get(1).map(|t| &t.kind) else {
                        return Err(at(line_no, format!("'{head}' without a name")));
                    };
                    let Some(&colon) = top_level(line, ":").first() else {
                        return Err(at(line_no, format!("'{head} {name}' without a ':'")));
                    };
                    let inline = &line[colon + 1..];
                    // A class body is read as a module's; a function's only for `self.`.
                    let body = if inline.is_empty() {
                        self.suite(head == "def", line_no)?
                    } else {
                        self.simple_statements(inline, head == "def")
                    };
                    if head == "class" {
                        map.insert(Value::String(name.clone()), Value::Mapping(body));
                    } else if name == "__init__" {
                        // dict.update: a name set again keeps its place, takes the new value.
                        for (k, v) in body {
                            map.insert(k, v);
                        }
                    }
                }
                _ if COMPOUND.contains(&head)
                    || (matches!(head, "match" | "case") && ends_block) =>
                {
                    // Read (so that its structure is checked) and left out, as DVC does.
                    if ends_block {
                        self.suite(false, line_no)?;
                    }
                }
                _ => {
                    for (k, v) in self.simple_statements(line, only_self) {
                        map.insert(k, v);
                    }
                }
            }
        }
        Ok(map)
    }

    /// The indented block after a `…:` line.
    fn suite(&mut self, only_self: bool, header: usize) -> Result<Mapping, String> {
        if self.tokens.get(self.pos).map(|t| &t.kind) != Some(&Kind::Indent) {
            return Err(at(
                header,
                "expected an indented block after the ':' of this line",
            ));
        }
        self.pos += 1;
        let map = self.block(only_self)?;
        // The block's DEDENT (the lexer closes every block at the end of the file).
        if self.tokens.get(self.pos).map(|t| &t.kind) == Some(&Kind::Dedent) {
            self.pos += 1;
        }
        Ok(map)
    }

    /// The assignments among the `;`-separated simple statements of one line.
    fn simple_statements(&mut self, line: &[Token], only_self: bool) -> Mapping {
        let mut map = Mapping::new();
        let mut start = 0;
        let mut ends = top_level(line, ";");
        ends.push(line.len());
        for end in ends {
            let statement = &line[start..end];
            start = end + 1;
            if let Some((name, value)) = self.assignment(statement, only_self) {
                map.insert(Value::String(name), value);
            }
        }
        map
    }

    /// `NAME = literal`, `NAME: T = literal` or `self.NAME = literal` (only the last in an
    /// `__init__`), as DVC's `_ast_assign_to_dict` takes them: one target, a literal value.
    fn assignment(&mut self, statement: &[Token], only_self: bool) -> Option<(String, Value)> {
        let equals = top_level(statement, "=");
        let first = *equals.first()?;
        let colon = top_level(statement, ":").first().copied();
        let target = match colon {
            // An annotated assignment.
            Some(c) if c < first => &statement[..c],
            // `a = b = 1`: DVC passes over assignments to several targets.
            _ if equals.len() > 1 => return None,
            _ => &statement[..first],
        };
        let name = match target
            .iter()
            .map(|t| &t.kind)
            .collect::<Vec<_>>()
            .as_slice()
        {
            [Kind::Name(n)] if !only_self => n.clone(),
            [Kind::Name(s), Kind::Op("."), Kind::Name(n)] if s == "self" => n.clone(),
            _ => return None,
        };
        let value = &statement[first + 1..];
        let mut reader = Literal {
            tokens: value,
            pos: 0,
            unsupported: None,
        };
        // Not a literal (a call, a name, arithmetic): DVC passes over it too.
        let v = reader.top().ok().filter(|_| reader.pos == value.len())?;
        let Some(u) = reader.unsupported else {
            return Some((name, v));
        };
        let message = format!(
            "'{name}' is {}, which a params value cannot hold; {}",
            u.what, u.fix
        );
        self.refused.push((u.line, message));
        let stand_in = serde_norway::value::TaggedValue {
            tag: serde_norway::value::Tag::new(REFUSED),
            value: Value::Number((self.refused.len() - 1).into()),
        };
        Some((name, Value::Tagged(Box::new(stand_in))))
    }
}

// ----------------------------------------------------------------------------------- literals

/// Why a literal cannot be a params value.
struct Unsupported {
    line: usize,
    what: String,
    fix: &'static str,
}

/// The value is not a literal (`ast.literal_eval` would refuse it).
struct NotLiteral;

struct Literal<'t> {
    tokens: &'t [Token],
    pos: usize,
    /// The first literal part that no params value can hold; reported only when the whole
    /// value is a literal (else DVC would pass over it).
    unsupported: Option<Unsupported>,
}

impl Literal<'_> {
    fn peek(&self) -> Option<&Kind> {
        self.tokens.get(self.pos).map(|t| &t.kind)
    }

    fn line(&self) -> usize {
        self.tokens
            .get(self.pos)
            .or(self.tokens.last())
            .map_or(1, |t| t.line)
    }

    fn eat(&mut self, op: &str) -> bool {
        if matches!(self.peek(), Some(Kind::Op(o)) if *o == op) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    fn refuse(&mut self, line: usize, what: impl Into<String>, fix: &'static str) {
        if self.unsupported.is_none() {
            self.unsupported = Some(Unsupported {
                line,
                what: what.into(),
                fix,
            });
        }
    }

    /// A whole right-hand side: one expression, or several separated by commas (a tuple).
    fn top(&mut self) -> Result<Value, NotLiteral> {
        let first = self.expr()?;
        if !self.eat(",") {
            return Ok(first);
        }
        let mut items = vec![first];
        while self.pos < self.tokens.len() {
            items.push(self.expr()?);
            if !self.eat(",") {
                break;
            }
        }
        Ok(Value::Sequence(items))
    }

    /// Items up to the closing `close` (the opening bracket is read); a trailing comma is fine.
    fn items(&mut self, close: &str) -> Result<Vec<Value>, NotLiteral> {
        let mut items = Vec::new();
        loop {
            if self.eat(close) {
                return Ok(items);
            }
            items.push(self.expr()?);
            if self.eat(close) {
                return Ok(items);
            }
            if !self.eat(",") {
                return Err(NotLiteral);
            }
        }
    }

    fn expr(&mut self) -> Result<Value, NotLiteral> {
        let line = self.line();
        let Some(kind) = self.peek().cloned() else {
            return Err(NotLiteral);
        };
        self.pos += 1;
        match kind {
            Kind::Op(sign @ ("-" | "+")) => match self.peek().cloned() {
                Some(Kind::Number(raw)) => {
                    self.pos += 1;
                    self.number(&raw, sign == "-", line)
                }
                _ => Err(NotLiteral),
            },
            Kind::Number(raw) => self.number(&raw, false, line),
            Kind::Str(first) => {
                // Adjacent literals are one string.
                let mut parts = vec![first];
                while let Some(Kind::Str(s)) = self.peek() {
                    parts.push(s.clone());
                    self.pos += 1;
                }
                let mut text = String::new();
                for part in parts {
                    match part {
                        Str::Text(t) => text.push_str(&t),
                        Str::Format => return Err(NotLiteral),
                        Str::Bytes => self.refuse(line, "a bytes literal", "write a str"),
                        Str::Odd(what) => self.refuse(line, what, "write the character itself"),
                    }
                }
                Ok(Value::String(text))
            }
            Kind::Name(n) => match n.as_str() {
                "True" => Ok(Value::Bool(true)),
                "False" => Ok(Value::Bool(false)),
                "None" => Ok(Value::Null),
                // `set()` is the one call literal_eval takes.
                "set" if self.eat("(") && self.eat(")") => {
                    self.refuse(line, "a set", "write a list (a set has no order to record)");
                    Ok(Value::Sequence(Vec::new()))
                }
                _ => Err(NotLiteral),
            },
            Kind::Op("...") => {
                self.refuse(line, "... (Ellipsis)", "write None or a value");
                Ok(Value::Null)
            }
            Kind::Op("(") => {
                if self.eat(")") {
                    return Ok(Value::Sequence(Vec::new()));
                }
                let first = self.expr()?;
                if self.eat(")") {
                    return Ok(first);
                }
                if !self.eat(",") {
                    return Err(NotLiteral);
                }
                let mut items = vec![first];
                items.extend(self.items(")")?);
                Ok(Value::Sequence(items))
            }
            Kind::Op("[") => self.items("]").map(Value::Sequence),
            Kind::Op("{") => {
                if self.eat("}") {
                    return Ok(Value::Mapping(Mapping::new()));
                }
                let key = self.expr()?;
                if !self.eat(":") {
                    // A set display.
                    let mut items = vec![key];
                    if !self.eat("}") {
                        if !self.eat(",") {
                            return Err(NotLiteral);
                        }
                        items.extend(self.items("}")?);
                    }
                    self.refuse(line, "a set", "write a list (a set has no order to record)");
                    return Ok(Value::Sequence(items));
                }
                let mut map = Mapping::new();
                let mut key = key;
                loop {
                    let key_line = self.line();
                    let value = self.expr()?;
                    // Python's dict: 1, 1.0 and True are one key.
                    if let Some(same) = map.keys().find(|k| same_key(k, &key)) {
                        let shown = |k: &Value| serde_json::to_string(k).unwrap_or_default();
                        let what = if *same == key {
                            format!("a dict with the key {} twice", shown(&key))
                        } else {
                            format!(
                                "a dict whose keys {} and {} are one key to Python",
                                shown(same),
                                shown(&key)
                            )
                        };
                        self.refuse(
                            key_line,
                            what,
                            "give each key once (Python would keep the last value silently)",
                        );
                    }
                    map.insert(key, value);
                    if self.eat("}") {
                        break;
                    }
                    if !self.eat(",") {
                        return Err(NotLiteral);
                    }
                    if self.eat("}") {
                        break;
                    }
                    key = self.expr()?;
                    if !self.eat(":") {
                        return Err(NotLiteral);
                    }
                }
                Ok(Value::Mapping(map))
            }
            _ => Err(NotLiteral),
        }
    }

    /// A number token, negated when `negative`; `1 + 2j` (a complex literal) is read whole.
    fn number(&mut self, raw: &str, negative: bool, line: usize) -> Result<Value, NotLiteral> {
        let value = match read_number(raw) {
            Ok(Num::Int(magnitude)) => {
                let n = if negative {
                    -(magnitude as i128)
                } else {
                    magnitude as i128
                };
                if let Ok(i) = i64::try_from(n) {
                    Value::Number(Number::from(i))
                } else if let Ok(u) = u64::try_from(n) {
                    Value::Number(Number::from(u))
                } else {
                    self.refuse(
                        line,
                        "an integer beyond 64 bits",
                        "write it as a float or a string",
                    );
                    Value::Null
                }
            }
            Ok(Num::Float(f)) => Value::Number(Number::from(if negative { -f } else { f })),
            Ok(Num::TooBig) => {
                self.refuse(
                    line,
                    "an integer beyond 64 bits",
                    "write it as a float or a string",
                );
                Value::Null
            }
            Ok(Num::Imaginary) => {
                self.refuse(line, "a complex number", "write its parts as two numbers");
                Value::Null
            }
            Err(()) => {
                self.refuse(
                    line,
                    format!("an invalid number '{raw}'"),
                    "write a Python number",
                );
                Value::Null
            }
        };
        // `1 + 2j`: literal_eval takes a real plus or minus an imaginary number.
        if let (Some(Kind::Op("+" | "-")), Some(Kind::Number(next))) =
            (self.peek(), self.tokens.get(self.pos + 1).map(|t| &t.kind))
            && matches!(read_number(next), Ok(Num::Imaginary))
        {
            self.pos += 2;
            self.refuse(line, "a complex number", "write its parts as two numbers");
        }
        Ok(value)
    }
}

/// Whether Python takes two dict keys for one: numbers and booleans by value.
fn same_key(a: &Value, b: &Value) -> bool {
    let number = |v: &Value| match v {
        Value::Bool(b) => Some(f64::from(u8::from(*b))),
        Value::Number(n) => n.as_f64(),
        _ => None,
    };
    match (a, b) {
        (Value::Number(x), Value::Number(y)) if !x.is_f64() && !y.is_f64() => x == y,
        (Value::Sequence(x), Value::Sequence(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(a, b)| same_key(a, b))
        }
        _ => match (number(a), number(b)) {
            (Some(x), Some(y)) => x == y,
            _ => a == b,
        },
    }
}

enum Num {
    Int(u64),
    TooBig,
    Float(f64),
    Imaginary,
}

/// Reads a Python number literal as written.
fn read_number(raw: &str) -> Result<Num, ()> {
    if raw.ends_with('_') || raw.contains("__") || raw.contains("_.") || raw.contains("._") {
        return Err(());
    }
    let text = raw.replace('_', "").to_ascii_lowercase();
    let radix = match text.get(..2) {
        Some("0x") => Some(16),
        Some("0o") => Some(8),
        Some("0b") => Some(2),
        _ => None,
    };
    if let Some(radix) = radix {
        let digits = &text[2..];
        if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
            return Err(());
        }
        return Ok(u64::from_str_radix(digits, radix).map_or(Num::TooBig, Num::Int));
    }
    if let Some(real) = text.strip_suffix('j') {
        return match real.parse::<f64>() {
            Ok(_) if real.starts_with(|c: char| c.is_ascii_digit() || c == '.') => {
                Ok(Num::Imaginary)
            }
            _ => Err(()),
        };
    }
    if text.contains(['.', 'e']) {
        // Rust reads every form Python writes (`1.`, `.5`, `1e-3`); the token starts with a
        // digit or a dot, so `inf` and `nan` cannot reach it.
        return text.parse::<f64>().map(Num::Float).map_err(|_| ());
    }
    if !text.chars().all(|c| c.is_ascii_digit()) || text.is_empty() {
        return Err(());
    }
    // `007` is an error in Python 3 (zeros alone are fine).
    if text.starts_with('0') && text.chars().any(|c| c != '0') {
        return Err(());
    }
    Ok(text.parse::<u64>().map_or(Num::TooBig, Num::Int))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn yaml(s: &str) -> Value {
        serde_norway::from_str(s).expect("test YAML")
    }

    #[track_caller]
    fn error(text: &str) -> String {
        parse(text).expect_err("an error")
    }

    /// Compared with what DVC's `_ast_tree_to_dict` gives for the same file (CPython 3.11).
    #[test]
    fn module_and_class_assignments_as_dvc_reads_them() {
        let text = r#"import os
from dataclasses import dataclass
# comment
SEED = 42
LR: float = 0.001
NAME = 'iris'
LAYERS = [64, 32,]
SHAPE = (3, 4)
PAIR = 1, 2
EMPTY = ()
OPTS = {"a": 1, "b": {"c": None, 'd': True}, 3: [1.5, -2]}
NEG = -5
MIN = -9223372036854775808
BIG = 18446744073709551615
HEX = 0xff
FLOAT = 1_000.5e-3
DOT = .5
CAT = "a" 'b' \
  "c"
MULTI = """x
y 'q' ""
"""
RAW = r"\d+\n"
ESC = "tab\tA\x41\u00e9\101\q\\"
PAREN = ((1))
COMPUTED = os.getenv("X")
A = B = 3
x += 1
F = f"{SEED}"
NEWER = f"{OPTS["a"]}"
L = [i for i in range(3)]
SUM = 1 + 2
STAR = [*L]
t = 1; u = 2
def helper():
    INNER = 1
if __name__ == "__main__":
    MAIN = 1
class Train:
    """doc"""
    epochs = 10
    optimizer: str = "adam"
    def __init__(self, x=1):
        self.lr = 0.1
        local = 5
        self.computed = x * 2
        if x:
            self.hidden = 1
    def other(self):
        self.nope = 1
    class Nested:
        depth = 3
    epochs = 12
@dataclass(frozen=True)
class Data(object):
    path: str = "data.csv"
    untyped: int
class Inline: a = 1; b = 2
def __init__(self):
    self.top_init = 1
    not_self = 2
SEED = 7
"#;
        let expected = yaml(
            r#"
SEED: 7
LR: 0.001
NAME: iris
LAYERS: [64, 32]
SHAPE: [3, 4]
PAIR: [1, 2]
EMPTY: []
OPTS: {a: 1, b: {c: null, d: true}, '3': [1.5, -2]}
NEG: -5
MIN: -9223372036854775808
BIG: 18446744073709551615
HEX: 255
FLOAT: 1.0005
DOT: 0.5
CAT: abc
MULTI: "x\ny 'q' \"\"\n"
RAW: '\d+\n'
ESC: "tab\tAAé\x41\\q\\"
PAREN: 1
t: 1
u: 2
Train: {epochs: 12, optimizer: adam, lr: 0.1, Nested: {depth: 3}}
Data: {path: data.csv}
Inline: {a: 1, b: 2}
top_init: 1
"#,
        );
        let got = super::super::normalize(parse(text).expect("parses")).expect("normal");
        assert_eq!(got, expected);
        // In file order, a name assigned again keeping its first place (as a dict does).
        let keys: Vec<&str> = got
            .as_mapping()
            .expect("a mapping")
            .keys()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(&keys[..3], ["SEED", "LR", "NAME"]);
    }

    #[test]
    fn an_empty_or_code_only_file_is_an_empty_mapping() {
        for text in [
            "",
            "\n\n# only a comment\n",
            "import os\nprint(os.name)\n",
            "\u{feff}",
        ] {
            assert_eq!(parse(text), Ok(Value::Mapping(Mapping::new())), "{text:?}");
        }
        // Windows line ends and no final newline.
        assert_eq!(parse("a = 1\r\nb = 'x'"), Ok(yaml("{a: 1, b: x}")));
    }

    #[test]
    fn values_no_params_value_can_hold_are_errors_naming_the_line() {
        for (text, expect) in [
            ("a = 1\nS = {1, 2}\n", "line 2: 'S' is a set"),
            ("S = set()", "line 1: 'S' is a set"),
            ("C = 1+2j", "line 1: 'C' is a complex number"),
            ("C = [2j]", "line 1: 'C' is a complex number"),
            ("B = b'x'", "line 1: 'B' is a bytes literal"),
            ("E = ...", "line 1: 'E' is ... (Ellipsis)"),
            (
                "N = 123456789012345678901234567890",
                "'N' is an integer beyond 64 bits",
            ),
            (
                "N = -18446744073709551615",
                "'N' is an integer beyond 64 bits",
            ),
            ("U = '\\N{EM DASH}'", "'U' is a string with a \\N{…} escape"),
            ("U = '\\ud800'", "'U' is a string with a lone surrogate"),
            (
                "D = {'a': 1,\n 'a': 2}",
                "line 2: 'D' is a dict with the key \"a\" twice",
            ),
            (
                "D = {1: 'x', True: 'y'}",
                "'D' is a dict whose keys 1 and true are one key",
            ),
            (
                "class K:\n    def __init__(self):\n        self.s = {1}\n",
                "line 3: 's' is a set",
            ),
        ] {
            let err = error(text);
            assert!(err.contains(expect), "{text:?}: {err}");
        }
        // Replaced later, or not a literal as a whole, or in a block DVC does not read: as in
        // DVC, nothing to report.
        for text in [
            "S = {1, 2}\nS = [1, 2]\n",
            "S = [b'x', name]",
            "if x:\n    S = {1}\n",
            "def f():\n    S = {1}\n",
            "C = 1+2j+x",
        ] {
            assert!(parse(text).is_ok(), "{text:?}: {:?}", parse(text));
        }
    }

    #[test]
    fn broken_python_is_an_error_naming_the_line() {
        for (text, expect) in [
            ("a = 1\nb = 'open\n", "line 2: unterminated string literal"),
            (
                "a = '''never\nclosed\n",
                "line 1: unterminated triple-quoted string",
            ),
            ("a = [1,\n  2\n", "line 1: '[' was never closed"),
            ("a = (1]\n", "line 1: closing ']' does not match '('"),
            ("a = 1)\n", "line 1: unmatched ')'"),
            ("a = 1\n  b = 2\n", "line 2: unexpected indent"),
            (
                "class A:\n    x = 1\n  y = 2\n",
                "line 3: unindent does not match",
            ),
            ("class A:\nx = 1\n", "line 1: expected an indented block"),
            (
                "if x:\n    def f():\n    pass\n",
                "line 2: expected an indented block",
            ),
            ("a = 1 $ 2\n", "line 1: invalid character '$'"),
            (
                "a = 1 \\ 2\n",
                "line 1: unexpected character after line continuation",
            ),
            ("a = '\\x4'\n", "line 1: truncated \\xXX escape"),
            ("a = 1\n\0\n", "line 2: a NUL character"),
            ("class = 1\n", "line 1: 'class' without a name"),
            ("class A\n    x = 1\n", "line 1: 'class A' without a ':'"),
        ] {
            let err = error(text);
            assert!(err.contains(expect), "{text:?}: {err}");
        }
    }

    #[test]
    fn strings_read_as_python_reads_them() {
        for (text, expect) in [
            (r#"s = 'it\'s'"#, "it's"),
            (r#"s = r'it\'s'"#, r"it\'s"),
            (r#"s = "a#b"  # c"#, "a#b"),
            (r#"s = "\101\x42\u0043\U00000044""#, "ABCD"),
            ("s = 'a\\\nb'", "ab"),
            ("s = ('a'\n     'b')", "ab"),
            (r#"s = u"x" """y" """"#, "xy\" "),
            (r#"s = Rb"x" if 0 else "y""#, "-"),
        ] {
            match parse(text).expect("parses").get("s") {
                Some(Value::String(s)) => assert_eq!(s, expect, "{text}"),
                None => assert_eq!(expect, "-", "{text}"),
                other => panic!("{text}: {other:?}"),
            }
        }
        // Nested quotes and braces of f-strings (Python 3.12) do not end the string early.
        let text = "a = f\"{d[\"k\"]:{w}} }}{{ {'}'}\"\nb = 1\n";
        assert_eq!(parse(text), Ok(yaml("{b: 1}")));
    }

    #[test]
    fn hostile_nesting_is_refused_without_overflowing() {
        let deep = format!("a = {}1{}\n", "[".repeat(10_000), "]".repeat(10_000));
        assert!(error(&deep).contains("more than 100 nested brackets"));
        let mut blocks = String::new();
        for level in 0..200 {
            blocks.push_str(&format!("{}if x:\n", " ".repeat(level)));
        }
        blocks.push_str(&format!("{}pass\n", " ".repeat(200)));
        assert!(error(&blocks).contains("more than 100 levels of indentation"));
        let fstrings = format!("a = {}{}\n", "f'{".repeat(5_000), "}'".repeat(5_000));
        assert!(parse(&fstrings).is_err());
        // 99 levels are fine.
        let ok = format!("a = {}1{}\n", "[".repeat(99), "]".repeat(99));
        assert!(parse(&ok).is_ok());
    }

    #[test]
    fn garbage_never_panics() {
        // Deterministic noise: random bytes, and random Python-ish tokens.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let pieces = [
            "a", "=", "1", "'", "\"", "\"\"\"", "(", ")", "[", "]", "{", "}", ":", ",", "\n",
            "    ", "\t", "\\", "#", "class", "def", "__init__", "self", ".", "f'", "{", "j", "0x",
            "e", "-", "...", "@", ";", "r'", "b'", "\\N{", "if", "True", "set", "é", "\r",
        ];
        for _ in 0..3000 {
            let len = (next() % 60) as usize;
            let text: String = if next() % 2 == 0 {
                let bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
                String::from_utf8_lossy(&bytes).into_owned()
            } else {
                (0..len)
                    .map(|_| pieces[(next() % pieces.len() as u64) as usize])
                    .collect()
            };
            let _ = parse(&text);
        }
    }
}
