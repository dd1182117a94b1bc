//! Parser: template text to a tree of nodes, in one pass over the source. Error messages follow
//! Go's parser.

use super::{Fail, MAX_DEPTH, fail};
use serde_json::Value;

#[derive(Debug)]
pub(crate) enum Node {
    Text(String),
    /// `{{ pipeline }}`: printed unless it declares a variable.
    Action(Pipe),
    /// `if`/`with`/`range`, its pipeline, body and `else` branch.
    Control(Kind, Pipe, Vec<Node>, Option<Vec<Node>>),
    Break,
    Continue,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    If,
    With,
    Range,
}

#[derive(Debug)]
pub(crate) struct Pipe {
    pub pos: usize,
    /// Variables declared (`:=`) or assigned (`=`); two only for `range`.
    pub decl: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Cmd>,
}

/// A command's operands; never empty.
pub(crate) type Cmd = Vec<Operand>;

/// A term and the field chain written right after it: `.A.B` is `Dot` with `[A, B]`.
#[derive(Debug)]
pub(crate) struct Operand {
    pub pos: usize,
    pub term: Term,
    pub chain: Vec<String>,
}

#[derive(Debug)]
pub(crate) enum Term {
    Dot,
    Nil,
    Lit(Value),
    Func(&'static str),
    Var(String),
    Pipe(Box<Pipe>),
}

const FUNCS: [&str; 17] = [
    "and", "or", "not", "len", "index", "eq", "ne", "lt", "le", "gt", "ge", "print", "printf",
    "println", "html", "js", "urlquery",
];

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_word(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

enum Stop {
    Eof(usize),
    End(usize),
    Else(usize),
}

struct Parser<'a> {
    src: &'a str,
    pos: usize,
    /// Where the current action's `{{` is.
    open: usize,
    /// The last action ended with `-}}`: the next text loses its leading spaces.
    trim: bool,
    /// Variables in scope, innermost last; `$` is always there.
    vars: Vec<String>,
    depth: usize,
    ranges: usize,
}

pub(crate) fn parse(src: &str) -> Result<Vec<Node>, Fail> {
    let vars = vec!["$".to_owned()];
    let mut p = Parser {
        src,
        pos: 0,
        open: 0,
        trim: false,
        vars,
        depth: 0,
        ranges: 0,
    };
    match p.list()? {
        (nodes, Stop::Eof(_)) => Ok(nodes),
        (_, Stop::End(pos)) => fail(pos, "unexpected {{end}}"),
        (_, Stop::Else(pos)) => fail(pos, "unexpected {{else}}"),
    }
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    /// Skips spaces; returns whether there were any.
    fn space(&mut self) -> bool {
        let skipped = self.rest().len() - self.rest().trim_start_matches(is_space).len();
        self.pos += skipped;
        skipped > 0
    }

    fn word(&self) -> &'a str {
        let r = self.rest();
        &r[..r.find(|c| !is_word(c)).unwrap_or(r.len())]
    }

    /// The length of the `}}` or (after a space) `-}}` starting here, else 0.
    fn close_len(&self) -> usize {
        let r = self.rest();
        match r.starts_with("-}}") && self.src[..self.pos].ends_with(is_space) {
            true => 3,
            false => 2 * usize::from(r.starts_with("}}")),
        }
    }

    fn unexpected<T>(&self, ctx: &str) -> Result<T, Fail> {
        let what = match (self.rest().chars().next(), self.word()) {
            (None, _) => return fail(self.open, "unclosed action"),
            (_, "") if self.close_len() > 0 => "\"}}\"".to_owned(),
            (Some(c), "") => format!("{:?}", c.to_string()),
            (_, w) => format!("<{w}>"),
        };
        fail(self.pos, format!("unexpected {what} in {ctx}"))
    }

    fn close(&mut self, ctx: &str) -> Result<(), Fail> {
        self.space();
        match self.close_len() {
            0 => self.unexpected(ctx),
            n => {
                (self.pos, self.trim) = (self.pos + n, n == 3);
                Ok(())
            }
        }
    }

    fn nest(&mut self, pos: usize) -> Result<(), Fail> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return fail(pos, format!("nesting deeper than {MAX_DEPTH}"));
        }
        Ok(())
    }

    /// Parses nodes up to `{{end}}`, `{{else` or the end of input.
    fn list(&mut self) -> Result<(Vec<Node>, Stop), Fail> {
        let mut nodes = Vec::new();
        loop {
            let rest = self.rest();
            let open = rest.find("{{");
            let ltrim = open.is_some_and(|o| rest[o + 2..].starts_with('-'))
                && open.is_some_and(|o| rest[o + 3..].starts_with(is_space));
            let mut text = &rest[..open.unwrap_or(rest.len())];
            if self.trim {
                text = text.trim_start_matches(is_space);
            }
            if ltrim {
                text = text.trim_end_matches(is_space);
            }
            if !text.is_empty() {
                nodes.push(Node::Text(text.into()));
            }
            let Some(open) = open else {
                self.pos = self.src.len();
                return Ok((nodes, Stop::Eof(self.pos)));
            };
            self.open = self.pos + open;
            self.pos = self.open + if ltrim { 4 } else { 2 };
            self.trim = false;
            if self.rest().starts_with("/*") {
                self.comment()?;
                continue;
            }
            self.space();
            let (pos, kw) = (self.pos, self.word());
            let kind = match kw {
                "if" => Some(Kind::If),
                "with" => Some(Kind::With),
                "range" => Some(Kind::Range),
                _ => None,
            };
            if let Some(kind) = kind {
                self.pos += kw.len();
                nodes.push(self.control(kind, pos)?);
                continue;
            }
            match kw {
                "else" => {
                    self.pos += kw.len();
                    return Ok((nodes, Stop::Else(pos)));
                }
                "end" => {
                    self.pos += kw.len();
                    self.close("end")?;
                    return Ok((nodes, Stop::End(pos)));
                }
                "break" | "continue" if self.ranges == 0 => {
                    return fail(pos, format!("{{{{{kw}}}}} outside {{{{range}}}}"));
                }
                "break" | "continue" => {
                    self.pos += kw.len();
                    self.close(kw)?;
                    nodes.push(if kw == "break" {
                        Node::Break
                    } else {
                        Node::Continue
                    });
                }
                "define" | "template" | "block" => {
                    return fail(pos, format!("{{{{{kw}}}}} is not supported"));
                }
                _ => {
                    let pipe = self.pipeline("command")?;
                    self.close("command")?;
                    nodes.push(Node::Action(pipe));
                }
            }
        }
    }

    fn comment(&mut self) -> Result<(), Fail> {
        let Some(end) = self.rest().find("*/") else {
            return fail(self.open, "unclosed comment");
        };
        self.pos += end + 2;
        let r = self.rest();
        self.trim = r.starts_with(is_space) && r[1..].starts_with("-}}");
        if !self.trim && !r.starts_with("}}") {
            return fail(self.pos, "comment ends before closing delimiter");
        }
        self.pos += if self.trim { 4 } else { 2 };
        Ok(())
    }

    fn control(&mut self, kind: Kind, pos: usize) -> Result<Node, Fail> {
        let ctx = ["if", "with", "range"][kind as usize];
        self.nest(pos)?;
        let outer = self.vars.len();
        let pipe = self.pipeline(ctx)?;
        self.close(ctx)?;
        let inner = self.vars.len();
        self.ranges += usize::from(kind == Kind::Range);
        let (body, stop) = self.list()?;
        self.ranges -= usize::from(kind == Kind::Range);
        self.vars.truncate(inner);
        let chained = matches!(stop, Stop::Else(_)) && {
            self.space();
            self.word() == ctx && kind != Kind::Range
        };
        let els = match stop {
            Stop::End(_) => None,
            Stop::Eof(pos) => return fail(pos, "unexpected EOF"),
            // `{{else if x}}..{{end}}` is `{{else}}{{if x}}..{{end}}{{end}}`; `else with` alike.
            Stop::Else(_) if chained => {
                let at = self.pos;
                self.pos += ctx.len();
                Some(vec![self.control(kind, at)?])
            }
            Stop::Else(_) => {
                self.close("else")?;
                match self.list()? {
                    (els, Stop::End(_)) => Some(els),
                    (_, Stop::Else(pos)) => return fail(pos, "expected end; found {{else}}"),
                    (_, Stop::Eof(pos)) => return fail(pos, "unexpected EOF"),
                }
            }
        };
        self.vars.truncate(outer);
        self.depth -= 1;
        Ok(Node::Control(kind, pipe, body, els))
    }

    fn var(&mut self) -> String {
        let n = 1 + self.rest()[1..]
            .find(|c| !is_word(c))
            .unwrap_or(self.rest().len() - 1);
        self.pos += n;
        self.src[self.pos - n..self.pos].to_owned()
    }

    fn pipeline(&mut self, ctx: &str) -> Result<Pipe, Fail> {
        self.space();
        let (pos, range, paren) = (self.pos, ctx == "range", ctx == "parenthesized pipeline");
        let (mut decl, mut assign) = (Vec::new(), false);
        // `$x :=`, `$x =` or, in range, `$i, $v :=`; otherwise the `$x` is an operand.
        while !paren && self.rest().starts_with('$') {
            let at = self.pos;
            let name = self.var();
            self.space();
            let r = self.rest();
            let op = [(":=", 2), ("=", 1), (",", 0)]
                .into_iter()
                .find(|(s, _)| r.starts_with(s));
            match op {
                Some((_, 0)) if range && decl.is_empty() => {
                    decl.push((name, at));
                    self.pos += 1;
                    self.space();
                    if !self.rest().starts_with('$') {
                        return self.unexpected(ctx);
                    }
                }
                Some((_, n)) if n > 0 => {
                    decl.push((name, at));
                    (self.pos, assign) = (self.pos + n, n == 1);
                    break;
                }
                _ if decl.is_empty() => {
                    self.pos = pos;
                    break;
                }
                _ => return self.unexpected(ctx),
            }
        }
        if let Some((name, at)) = decl.iter().find(|(n, _)| assign && !self.vars.contains(n)) {
            return fail(*at, format!("undefined variable {name:?}"));
        }
        let mut cmds: Vec<Cmd> = Vec::new();
        loop {
            self.space();
            if cmds.is_empty() && (self.close_len() > 0 || self.rest().starts_with(')')) {
                break;
            }
            let cmd = self.command()?;
            let first = &cmd[0];
            let literal = matches!(first.term, Term::Dot | Term::Nil | Term::Lit(_));
            if !cmds.is_empty() && literal && first.chain.is_empty() {
                let stage = cmds.len() + 1;
                return fail(
                    first.pos,
                    format!("non executable command in pipeline stage {stage}"),
                );
            }
            cmds.push(cmd);
            if !self.rest().starts_with('|') {
                break;
            }
            self.pos += 1;
        }
        match (paren, self.rest().starts_with(')'), self.close_len() > 0) {
            (true, true, _) | (false, _, true) => {}
            (true, _, true) => return fail(self.pos, "unclosed left paren"),
            _ => return self.unexpected(ctx),
        }
        if cmds.is_empty() {
            return fail(self.pos, format!("missing value for {ctx}"));
        }
        let decl: Vec<String> = decl.into_iter().map(|(n, _)| n).collect();
        if !assign {
            self.vars.extend(decl.iter().cloned());
        }
        Ok(Pipe {
            pos,
            decl,
            assign,
            cmds,
        })
    }

    fn command(&mut self) -> Result<Cmd, Fail> {
        let mut args = Vec::new();
        loop {
            let spaced = self.space();
            let r = self.rest();
            if r.is_empty() || self.close_len() > 0 || r.starts_with([')', '|']) {
                break;
            }
            if !args.is_empty() && !spaced {
                return self.unexpected("operand");
            }
            args.push(self.operand()?);
        }
        if args.is_empty() {
            return fail(self.pos, "missing value for command");
        }
        Ok(args)
    }

    fn operand(&mut self) -> Result<Operand, Fail> {
        let pos = self.pos;
        let mut chars = self.rest().chars();
        let (c, next) = (chars.next().unwrap_or(' '), chars.next().unwrap_or(' '));
        let mut chain = Vec::new();
        let term = match c {
            '.' if next.is_ascii_digit() => Term::Lit(self.number()?),
            '+' | '-' | '0'..='9' => Term::Lit(self.number()?),
            '.' if is_word(next) => Term::Dot,
            '.' => {
                self.pos += 1;
                Term::Dot
            }
            '"' | '`' => Term::Lit(Value::String(self.string()?)),
            '$' => match self.var() {
                name if self.vars.contains(&name) => Term::Var(name),
                name => return fail(pos, format!("undefined variable {name:?}")),
            },
            '(' => {
                self.pos += 1;
                self.nest(pos)?;
                let pipe = self.pipeline("parenthesized pipeline")?;
                self.pos += 1;
                self.depth -= 1;
                Term::Pipe(Box::new(pipe))
            }
            c if is_word(c) => {
                let w = self.word();
                self.pos += w.len();
                match w {
                    "true" | "false" => Term::Lit(Value::Bool(w == "true")),
                    "nil" => Term::Nil,
                    w => match FUNCS.iter().find(|f| **f == w) {
                        Some(f) => Term::Func(f),
                        None => return fail(pos, format!("function {w:?} not defined")),
                    },
                }
            }
            _ => return self.unexpected("operand"),
        };
        while self.rest().starts_with('.') && self.rest()[1..].starts_with(is_word) {
            if matches!(term, Term::Lit(_) | Term::Nil | Term::Func(_)) {
                return fail(self.pos, "unexpected . after term");
            }
            self.pos += 1;
            chain.push(self.word().to_owned());
            self.pos += chain[chain.len() - 1].len();
        }
        // Like Go's lexer, a word must end at a space, punctuation or the end of the action.
        let word = !chain.is_empty()
            || !matches!(
                term,
                Term::Lit(Value::Number(_) | Value::String(_)) | Term::Pipe(_)
            );
        match self.rest().chars().next() {
            Some(c) if word && !is_space(c) && !".,|:()=}".contains(c) => {
                fail(self.pos, format!("bad character U+{:04X} {c:?}", c as u32))
            }
            _ => Ok(Operand { pos, term, chain }),
        }
    }

    fn number(&mut self) -> Result<Value, Fail> {
        let b = self.rest().as_bytes();
        let sign = usize::from(matches!(b[0], b'+' | b'-'));
        let hex = matches!(b.get(sign..sign + 2), Some(b"0x" | b"0X"));
        let mut n = 1;
        while let Some(&c) = b.get(n) {
            let exp_sign = matches!(c, b'+' | b'-') && !hex && matches!(b[n - 1], b'e' | b'E');
            if !(c.is_ascii_alphanumeric() || c == b'_' || c == b'.' || exp_sign) {
                break;
            }
            n += 1;
        }
        let text = &self.rest()[..n];
        match number(text) {
            Some(v) => {
                self.pos += n;
                Ok(v)
            }
            None => fail(self.pos, format!("bad number syntax: {text:?}")),
        }
    }

    /// A `"..."` or raw `` `...` `` string.
    fn string(&mut self) -> Result<String, Fail> {
        let (pos, rest) = (self.pos, self.rest());
        if let Some(raw) = rest.strip_prefix('`') {
            let Some(end) = raw.find('`') else {
                return fail(pos, "unterminated raw quoted string");
            };
            self.pos += end + 2;
            return Ok(raw[..end].into());
        }
        let (mut s, mut it) = (String::new(), rest[1..].char_indices());
        while let Some((i, c)) = it.next() {
            match c {
                '"' => {
                    self.pos += i + 2;
                    return Ok(s);
                }
                '\n' => break,
                '\\' => match unescape(&mut it) {
                    Some(c) => s.push(c),
                    None => return fail(pos, "invalid escape in string"),
                },
                c => s.push(c),
            }
        }
        fail(pos, "unterminated quoted string")
    }
}

/// Go's number literals, less octal and binary: JSON numbers plus `0x` integers, a leading `+`,
/// `_` separators and `.5`/`1.` forms.
fn number(text: &str) -> Option<Value> {
    let t = text.replace('_', "");
    let (sign, body) = match t.strip_prefix('-') {
        Some(b) => ("-", b),
        None => ("", t.strip_prefix('+').unwrap_or(&t)),
    };
    if let Some(hex) = body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        let u = u64::from_str_radix(hex, 16).ok()?;
        return Some(if sign == "-" {
            0i64.checked_sub_unsigned(u)?.into()
        } else {
            u.into()
        });
    }
    let zero = if body.starts_with('.') { "0" } else { "" };
    let tail = if body.ends_with('.') { "0" } else { "" };
    // JSON refuses a leading zero, which Go would read as octal.
    let v: Value = serde_json::from_str(&format!("{sign}{zero}{body}{tail}")).ok()?;
    v.is_number().then_some(v)
}

/// Decodes the escape after a backslash (`\n`, `\x41`, `\u00e9`, ...); `None` for an invalid one.
fn unescape(it: &mut std::str::CharIndices<'_>) -> Option<char> {
    let (_, c) = it.next()?;
    if c == 'x' || c == 'u' {
        let digits: String = it
            .take(if c == 'x' { 2 } else { 4 })
            .map(|(_, c)| c)
            .collect();
        let d = char::from_u32(u32::from_str_radix(&digits, 16).ok()?)?;
        // A byte above 0x7f on its own would not be UTF-8.
        return Some(d).filter(|d| c == 'u' || d.is_ascii());
    }
    let i = "abfnrtv\\'\"".find(c)?;
    "\x07\x08\x0c\n\r\t\x0b\\'\"".chars().nth(i)
}
