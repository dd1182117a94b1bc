//! Evaluation of a parsed template over a JSON value, and the builtin functions.

use super::format::{go_type, go_v, printable, sprint, sprintf};
use super::parse::{Cmd, Kind, Node, Operand, Pipe, Term};
use super::{Fail, MAX_OUTPUT, MAX_WORK, Methods, fail};
use serde_json::{Number, Value};
use std::cmp::Ordering;

static NULL: Value = Value::Null;

/// A value during evaluation, borrowed from the data where possible.
#[derive(Clone, Debug)]
enum Val<'d> {
    /// Go's "no value", from a missing key: prints `<no value>`, is nil as an argument, and
    /// its fields are missing too.
    Missing,
    Ref(&'d Value),
    Own(Value),
}

impl Val<'_> {
    fn get(&self) -> &Value {
        match self {
            Val::Missing => &NULL,
            Val::Ref(v) => v,
            Val::Own(v) => v,
        }
    }
}

enum Flow {
    Normal,
    Break,
    Continue,
}

struct Exec<'t, 'd> {
    root: &'d Value,
    methods: &'d dyn Methods,
    vars: Vec<(&'t str, Val<'d>)>,
    out: String,
    work: usize,
}

pub(crate) fn run(nodes: &[Node], data: &Value, methods: &dyn Methods) -> Result<String, Fail> {
    let vars = vec![("$", Val::Ref(data))];
    let mut ex = Exec {
        root: data,
        methods,
        vars,
        out: String::new(),
        work: 0,
    };
    ex.walk(&Val::Ref(data), nodes)?;
    Ok(ex.out)
}

/// Go's truth: false, 0, nil, and empty strings, arrays and maps are false.
pub(crate) fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

impl<'t, 'd> Exec<'t, 'd> {
    fn charge(&mut self, pos: usize, cost: usize) -> Result<(), Fail> {
        self.work += cost;
        if self.work > MAX_WORK {
            return fail(
                pos,
                format!("template does more than {MAX_WORK} steps of work"),
            );
        }
        Ok(())
    }

    fn write(&mut self, pos: usize, s: &str) -> Result<(), Fail> {
        if self.out.len() + s.len() > MAX_OUTPUT {
            return fail(pos, format!("output longer than {MAX_OUTPUT} bytes"));
        }
        self.out.push_str(s);
        Ok(())
    }

    fn walk(&mut self, dot: &Val<'d>, nodes: &'t [Node]) -> Result<Flow, Fail> {
        for node in nodes {
            let flow = match node {
                Node::Text(s) => self.write(0, s).map(|()| Flow::Normal)?,
                Node::Action(pipe) => {
                    let v = self.pipe(dot, pipe)?;
                    if !pipe.decl.is_empty() {
                        self.declare(pipe, 0, v)?;
                    } else if v.get().is_null() {
                        self.write(pipe.pos, "<no value>")?;
                    } else {
                        self.write(pipe.pos, &go_v(v.get()))?;
                    }
                    Flow::Normal
                }
                Node::Control(kind, pipe, body, els) => {
                    let mark = self.vars.len();
                    let flow = self.control(dot, *kind, pipe, body, els.as_deref());
                    self.vars.truncate(mark);
                    flow?
                }
                Node::Break => Flow::Break,
                Node::Continue => Flow::Continue,
            };
            if !matches!(flow, Flow::Normal) {
                return Ok(flow);
            }
        }
        Ok(Flow::Normal)
    }

    fn control(
        &mut self,
        dot: &Val<'d>,
        kind: Kind,
        pipe: &'t Pipe,
        body: &'t [Node],
        els: Option<&'t [Node]>,
    ) -> Result<Flow, Fail> {
        let v = self.pipe(dot, pipe)?;
        let map = v.get().is_object();
        let mut items: Vec<(Value, Val<'d>)> = match (kind, v) {
            (Kind::Range, Val::Ref(Value::Array(a))) => a
                .iter()
                .enumerate()
                .map(|(i, x)| (i.into(), Val::Ref(x)))
                .collect(),
            (Kind::Range, Val::Own(Value::Array(a))) => a
                .into_iter()
                .enumerate()
                .map(|(i, x)| (i.into(), Val::Own(x)))
                .collect(),
            (Kind::Range, Val::Ref(Value::Object(m))) => m
                .iter()
                .map(|(k, x)| (k.as_str().into(), Val::Ref(x)))
                .collect(),
            (Kind::Range, Val::Own(Value::Object(m))) => m
                .into_iter()
                .map(|(k, x)| (k.into(), Val::Own(x)))
                .collect(),
            (Kind::Range, v) if v.get().is_null() => Vec::new(),
            (Kind::Range, v) => {
                return fail(
                    pipe.pos,
                    format!("range can't iterate over {}", go_v(v.get())),
                );
            }
            (_, v) => {
                if !pipe.decl.is_empty() {
                    self.declare(pipe, 0, v.clone())?;
                }
                return match (truthy(v.get()), kind, els) {
                    (true, Kind::With, _) => self.walk(&v, body),
                    (true, _, _) => self.walk(dot, body),
                    (false, _, Some(els)) => self.walk(dot, els),
                    (false, _, None) => Ok(Flow::Normal),
                };
            }
        };
        if map {
            // Go ranges over maps in key order, whatever order the map keeps.
            items.sort_unstable_by(|a, b| a.0.as_str().cmp(&b.0.as_str()));
        }
        if items.is_empty() {
            return els.map_or(Ok(Flow::Normal), |els| self.walk(dot, els));
        }
        for (key, item) in items {
            self.charge(pipe.pos, 1)?;
            let mark = self.vars.len();
            if pipe.decl.len() == 2 {
                self.declare(pipe, 0, Val::Own(key))?;
            }
            self.declare(pipe, pipe.decl.len().saturating_sub(1), item.clone())?;
            let flow = self.walk(&item, body);
            self.vars.truncate(mark);
            if let Flow::Break = flow? {
                break;
            }
        }
        Ok(Flow::Normal)
    }

    fn declare(&mut self, pipe: &'t Pipe, i: usize, v: Val<'d>) -> Result<(), Fail> {
        let Some(name) = pipe.decl.get(i) else {
            return Ok(());
        };
        if !pipe.assign {
            self.vars.push((name, v));
            return Ok(());
        }
        match self.vars.iter_mut().rev().find(|(n, _)| n == name) {
            Some(slot) => slot.1 = v,
            None => return fail(pipe.pos, format!("undefined variable: {name}")),
        }
        Ok(())
    }

    fn pipe(&mut self, dot: &Val<'d>, pipe: &'t Pipe) -> Result<Val<'d>, Fail> {
        let mut last = None;
        for cmd in &pipe.cmds {
            last = Some(self.cmd(dot, cmd, last)?);
        }
        Ok(last.unwrap_or(Val::Missing))
    }

    fn cmd(
        &mut self,
        dot: &Val<'d>,
        cmd: &'t Cmd,
        piped: Option<Val<'d>>,
    ) -> Result<Val<'d>, Fail> {
        let Some((first, args)) = cmd.split_first() else {
            return fail(0, "empty command");
        };
        self.charge(first.pos, 1)?;
        match (&first.term, first.chain.is_empty()) {
            (Term::Func(name), true) => return self.call(dot, name, args, piped, first.pos),
            (Term::Nil, true) => return fail(first.pos, "nil is not a command"),
            (term, true) if !args.is_empty() || piped.is_some() => {
                let what = match term {
                    Term::Dot => ".".to_owned(),
                    Term::Lit(v) => v.to_string(),
                    Term::Var(name) => name.clone(),
                    _ => "(..)".to_owned(),
                };
                return fail(
                    first.pos,
                    format!("can't give argument to non-function {what}"),
                );
            }
            _ => {}
        }
        let recv = self.term(dot, first)?;
        self.chain(dot, recv, first, args, piped)
    }

    /// The value of an operand's term, before its field chain.
    fn term(&mut self, dot: &Val<'d>, op: &'t Operand) -> Result<Val<'d>, Fail> {
        Ok(match &op.term {
            Term::Dot => dot.clone(),
            Term::Nil => Val::Own(Value::Null),
            Term::Lit(v) => Val::Own(v.clone()),
            Term::Func(name) => self.call(dot, name, &[], None, op.pos)?,
            Term::Pipe(p) => self.pipe(dot, p)?,
            Term::Var(name) => match self.vars.iter().rev().find(|(n, _)| n == name) {
                Some((_, v)) => v.clone(),
                None => return fail(op.pos, format!("undefined variable: {name}")),
            },
        })
    }

    /// An operand in argument position: its fields and methods get no arguments.
    fn arg(&mut self, dot: &Val<'d>, op: &'t Operand) -> Result<Val<'d>, Fail> {
        let v = self.term(dot, op)?;
        self.chain(dot, v, op, &[], None)
    }

    /// Follows `op`'s field chain from `recv`; the last link gets the arguments. A name is a
    /// method when the receiver is the root value and `Methods` knows it.
    fn chain(
        &mut self,
        dot: &Val<'d>,
        recv: Val<'d>,
        op: &'t Operand,
        args: &'t [Operand],
        mut piped: Option<Val<'d>>,
    ) -> Result<Val<'d>, Fail> {
        let mut cur = recv;
        for (i, name) in op.chain.iter().enumerate() {
            let last = i + 1 == op.chain.len();
            let (args, piped) = if last {
                (args, piped.take())
            } else {
                (&[][..], None)
            };
            if matches!(cur, Val::Ref(r) if std::ptr::eq(r, self.root)) {
                let mut argv = Vec::with_capacity(args.len() + 1);
                for a in args {
                    argv.push(self.arg(dot, a)?.get().clone());
                }
                argv.extend(piped.as_ref().map(|v| v.get().clone()));
                if let Some(res) = self.methods.call(name, self.root, &argv) {
                    match res {
                        Ok(v) => cur = Val::Own(v),
                        Err(e) => return fail(op.pos, format!("error calling {name}: {e}")),
                    }
                    continue;
                }
            }
            if !args.is_empty() || piped.is_some() {
                return fail(op.pos, format!("{name} is not a method but has arguments"));
            }
            cur = match cur {
                Val::Missing => Val::Missing,
                Val::Ref(Value::Object(m)) => m.get(name).map_or(Val::Missing, Val::Ref),
                Val::Own(Value::Object(m)) => m.get(name).cloned().map_or(Val::Missing, Val::Own),
                v if v.get().is_null() => {
                    let head = match &op.term {
                        Term::Var(name) => name.as_str(),
                        Term::Pipe(_) => "(..)",
                        _ => "",
                    };
                    let path: String = op.chain[..=i].iter().map(|n| format!(".{n}")).collect();
                    return fail(op.pos, format!("nil pointer evaluating {head}{path}"));
                }
                v => {
                    let ty = go_type(v.get());
                    return fail(op.pos, format!("can't evaluate field {name} in type {ty}"));
                }
            };
        }
        Ok(cur)
    }

    fn call(
        &mut self,
        dot: &Val<'d>,
        name: &str,
        args: &'t [Operand],
        piped: Option<Val<'d>>,
        pos: usize,
    ) -> Result<Val<'d>, Fail> {
        let n = args.len() + usize::from(piped.is_some());
        let (min, max) = match name {
            "not" | "len" => (1, 1),
            "lt" | "le" | "gt" | "ge" | "ne" => (2, 2),
            "and" | "or" | "index" | "eq" | "printf" => (1, usize::MAX),
            _ => (0, usize::MAX),
        };
        if n < min || n > max {
            let want = if max > min {
                format!("at least {min}")
            } else {
                min.to_string()
            };
            return fail(
                pos,
                format!("wrong number of args for {name}: want {want} got {n}"),
            );
        }
        if name == "and" || name == "or" {
            // Evaluation stops at the first operand that decides the result.
            let mut last = Val::Missing;
            for a in args {
                last = self.arg(dot, a)?;
                if truthy(last.get()) == (name == "or") {
                    return Ok(last);
                }
            }
            return Ok(piped.unwrap_or(last));
        }
        let mut vals = Vec::with_capacity(n);
        for a in args {
            vals.push(self.arg(dot, a)?);
        }
        vals.extend(piped);
        let refs: Vec<&Value> = vals.iter().map(Val::get).collect();
        let v = match builtin(name, &refs) {
            Ok(v) => v,
            Err(e) => return fail(pos, format!("error calling {name}: {e}")),
        };
        if let Value::String(s) = &v {
            if s.len() > MAX_OUTPUT {
                return fail(pos, format!("{name} result longer than {MAX_OUTPUT} bytes"));
            }
            self.charge(pos, s.len() / 64)?;
        }
        Ok(Val::Own(v))
    }
}

fn builtin(name: &str, a: &[&Value]) -> Result<Value, String> {
    let cmp = |want: fn(Ordering) -> bool| compare(a[0], a[1]).map(|o| Value::Bool(want(o)));
    Ok(match name {
        "not" => Value::Bool(!truthy(a[0])),
        "len" => match a[0] {
            Value::String(s) => s.len().into(),
            Value::Array(v) => v.len().into(),
            Value::Object(m) => m.len().into(),
            Value::Null => return Err("len of nil pointer".into()),
            v => return Err(format!("len of type {}", go_type(v))),
        },
        "index" => index(a[0], &a[1..])?,
        "eq" if a.len() < 2 => return Err("missing argument for comparison".into()),
        "eq" => {
            let mut any = false;
            for b in &a[1..] {
                any |= equal(a[0], b)?;
            }
            Value::Bool(any)
        }
        "ne" => Value::Bool(!equal(a[0], a[1])?),
        "lt" => cmp(Ordering::is_lt)?,
        "le" => cmp(Ordering::is_le)?,
        "gt" => cmp(Ordering::is_gt)?,
        "ge" => cmp(Ordering::is_ge)?,
        "print" => sprint(a).into(),
        "println" => (a.iter().map(|v| go_v(v)).collect::<Vec<_>>().join(" ") + "\n").into(),
        "printf" => match a[0] {
            Value::String(f) => sprintf(f, &a[1..]).into(),
            v => {
                return Err(format!(
                    "wrong type for value; expected string; got {}",
                    go_type(v)
                ));
            }
        },
        _ => match a {
            [Value::String(s)] => escape(name, s).into(),
            _ => escape(name, &sprint(a)).into(),
        },
    })
}

fn int(n: &Number) -> Option<i128> {
    n.as_i64()
        .map(i128::from)
        .or_else(|| n.as_u64().map(i128::from))
}

fn index(item: &Value, idx: &[&Value]) -> Result<Value, String> {
    let mut cur = item;
    for i in idx {
        let n = i.as_number().and_then(int);
        let at = n.and_then(|n| usize::try_from(n).ok());
        let range = || format!("index out of range: {}", n.unwrap_or(0));
        cur = match (cur, *i) {
            (Value::Array(a), _) if n.is_some() => at.and_then(|at| a.get(at)).ok_or_else(range)?,
            (Value::Array(_), i) => {
                return Err(format!(
                    "cannot index {} with type {}",
                    go_type(cur),
                    go_type(i)
                ));
            }
            (Value::Object(m), Value::String(k)) => m.get(k).unwrap_or(&NULL),
            (Value::Object(_), i) => {
                return Err(format!("value has type {}; should be string", go_type(i)));
            }
            (Value::Null, _) => return Err("index of untyped nil".into()),
            (v, _) => return Err(format!("can't index item of type {}", go_type(v))),
        };
    }
    Ok(cur.clone())
}

/// Numbers compare by value whether integer or float; Go would refuse int against float.
fn num_cmp(a: &Number, b: &Number) -> Option<Ordering> {
    match (int(a), int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        _ => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

fn equal(a: &Value, b: &Value) -> Result<bool, String> {
    match (a, b) {
        (Value::Null, _) | (_, Value::Null) => Ok(a == b),
        (Value::Bool(x), Value::Bool(y)) => Ok(x == y),
        (Value::Array(_), Value::Array(_)) | (Value::Object(_), Value::Object(_)) => {
            Err(format!("non-comparable type {}", go_type(a)))
        }
        _ => compare(a, b).map(Ordering::is_eq),
    }
}

fn compare(a: &Value, b: &Value) -> Result<Ordering, String> {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => num_cmp(x, y).ok_or_else(|| "NaN".into()),
        (Value::String(x), Value::String(y)) => Ok(x.cmp(y)),
        _ if std::mem::discriminant(a) == std::mem::discriminant(b) => {
            Err("invalid type for comparison".into())
        }
        _ => Err("incompatible types for comparison".into()),
    }
}

/// Go's `HTMLEscapeString` (`html`), `JSEscapeString` (`js`) and `url.QueryEscape` (`urlquery`).
fn escape(func: &str, s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let u = c as u32;
        match (func, c) {
            ("html", '"') => out.push_str("&#34;"),
            ("html", '\'') => out.push_str("&#39;"),
            ("html", '&') => out.push_str("&amp;"),
            ("html", '<') => out.push_str("&lt;"),
            ("html", '>') => out.push_str("&gt;"),
            ("html", '\0') => out.push('\u{FFFD}'),
            ("js", '\\' | '\'' | '"') => out.extend(['\\', c]),
            ("js", '<' | '>' | '&' | '=') => out.push_str(&format!("\\u{u:04X}")),
            ("js", _) if u < 0x20 || (u >= 0x80 && !printable(c)) => {
                out.push_str(&format!("\\u{u:04X}"))
            }
            ("html" | "js", c) => out.push(c),
            (_, ' ') => out.push('+'),
            (_, c) if c.is_ascii_alphanumeric() || "-_.~".contains(c) => out.push(c),
            (_, c) => {
                for b in c.encode_utf8(&mut [0; 4]).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
    }
    out
}
