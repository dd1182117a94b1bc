//! A small Go `text/template` engine for hook messages.
//!
//! Owns parsing and rendering of the template subset that Backrest users write in their hook
//! bodies (see SPEC §8): text with `{{ }}` actions and `{{-`/`-}}` trim markers, comments,
//! field chains (`.Repo.Id`, `$.Plan`, `$x.A`), variables (`:=` and `=`), `if`/`else if`/`else`,
//! `range` (with `$i, $v :=`, `else`, `break`, `continue`), `with`/`else with`, pipelines,
//! parenthesized pipelines, literals, and the builtins `and or not len index eq ne lt le gt ge
//! print printf println html js urlquery` (`printf` knows `v s d f F e E g G q x X t T %`).
//! Not supported: `define`, `template`, `block`, `slice`, `call`, custom delimiters, character
//! constants, octal/binary/complex literals, `index` on strings, ranging over integers.
//!
//! Data is a [`serde_json::Value`]. Methods such as Backrest's `.FormatTime` are supplied by the
//! caller through [`Methods`] and are found on the root value (`.` at the top, or `$`), the way
//! Go finds methods on the struct passed to `Execute`. [`backrest`] holds Backrest's own helpers.
//!
//! Go behaviour kept on purpose: a missing object key renders `<no value>` (Go's rule for maps;
//! Backrest's data is a struct, where Go would fail instead), a field of `null` is an error
//! ("nil pointer evaluating"), maps range in sorted key order, `and`/`or` stop early. Leniencies:
//! numbers compare across integer and float, and `%f`/`%e`/`%g` accept integers, because JSON does
//! not keep Go's int/float distinction.
//!
//! Rendering never panics: work, output size and nesting depth are capped and every failure is an
//! [`Error`] with a 1-based `line:col`. Pure functions, no shared state: any thread may call it.

pub mod backrest;
mod exec;
mod format;
mod parse;
#[cfg(test)]
mod tests;

use serde_json::Value;
use std::fmt;

/// Most bytes one render may produce; hook bodies are messages, not files.
pub const MAX_OUTPUT: usize = 1 << 20;
/// Budget of evaluation steps (plus one per 64 bytes that functions build), so a template that
/// loops without printing still stops quickly.
pub const MAX_WORK: usize = 1_000_000;
/// Deepest nesting of control structures and parentheses.
pub const MAX_DEPTH: usize = 100;

/// Why a template could not be parsed or rendered. `line` and `col` are 1-based and count
/// characters; `col` points at the token or operand at fault.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The template text is not valid.
    Parse {
        line: usize,
        col: usize,
        msg: String,
    },
    /// Rendering failed: a bad field access, a failing method, a limit reached.
    Exec {
        line: usize,
        col: usize,
        msg: String,
    },
}

impl Error {
    pub fn message(&self) -> &str {
        match self {
            Error::Parse { msg, .. } | Error::Exec { msg, .. } => msg,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (Error::Parse { line, col, msg } | Error::Exec { line, col, msg }) = self;
        write!(f, "template:{line}:{col}: {msg}")
    }
}

impl std::error::Error for Error {}

/// Methods callable on the root value, e.g. `{{ .FormatTime .CurTime }}` or `{{ $.Summary }}`.
///
/// `call` returns `None` when there is no method called `name`, so the engine falls back to the
/// field of that name. `root` is the data being rendered; `args` are the evaluated arguments,
/// with a piped value last, and a missing value passed as `null`. An `Err` message becomes an
/// execution error "error calling NAME: message".
pub trait Methods {
    fn call(&self, name: &str, root: &Value, args: &[Value]) -> Option<Result<Value, String>>;
}

/// No methods.
impl Methods for () {
    fn call(&self, _: &str, _: &Value, _: &[Value]) -> Option<Result<Value, String>> {
        None
    }
}

/// A closure is a registry: `|name, root, args| match name { "Hello" => Some(..), _ => None }`.
impl<F> Methods for F
where
    F: Fn(&str, &Value, &[Value]) -> Option<Result<Value, String>>,
{
    fn call(&self, name: &str, root: &Value, args: &[Value]) -> Option<Result<Value, String>> {
        self(name, root, args)
    }
}

/// A parsed template, ready to render any number of times.
#[derive(Debug)]
pub struct Template {
    src: String,
    nodes: Vec<parse::Node>,
}

impl Template {
    pub fn parse(src: &str) -> Result<Template, Error> {
        match parse::parse(src) {
            Ok(nodes) => Ok(Template {
                src: src.to_owned(),
                nodes,
            }),
            Err(f) => {
                let (line, col) = line_col(src, f.pos);
                Err(Error::Parse {
                    line,
                    col,
                    msg: f.msg,
                })
            }
        }
    }

    pub fn render(&self, data: &Value, methods: &dyn Methods) -> Result<String, Error> {
        exec::run(&self.nodes, data, methods).map_err(|f| {
            let (line, col) = line_col(&self.src, f.pos);
            Error::Exec {
                line,
                col,
                msg: f.msg,
            }
        })
    }
}

/// Parses `src` and renders it over `data` in one go.
pub fn render(src: &str, data: &Value, methods: &dyn Methods) -> Result<String, Error> {
    Template::parse(src)?.render(data, methods)
}

/// A failure at byte offset `pos` of the template source.
#[derive(Debug)]
pub(crate) struct Fail {
    pos: usize,
    msg: String,
}

fn fail<T>(pos: usize, msg: impl Into<String>) -> Result<T, Fail> {
    Err(Fail {
        pos,
        msg: msg.into(),
    })
}

fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let before = src.get(..pos).unwrap_or(src);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    (line, before[line_start..].chars().count() + 1)
}
