//! Go's `fmt` rules for JSON values: `%v` printing, `Sprint`, and `Sprintf` with the common verbs
//! (`v s d f F e E g G q x X t T %`, flags `-+ 0`, width, precision). Go's error forms are
//! kept: `%!d(string=x)`, `%!d(MISSING)`, `%!(EXTRA int=1)`.

use serde_json::{Number, Value};

/// The Go type name shown in errors and by `%T`.
pub(crate) fn go_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// `fmt.Sprint(v)`, i.e. `%v`.
pub(crate) fn go_v(v: &Value) -> String {
    let mut out = String::new();
    fmt_arg(&mut out, v, 'v', &Spec::default());
    out
}

/// `fmt.Sprint`: a space between operands when neither is a string.
pub(crate) fn sprint(args: &[&Value]) -> String {
    let mut out = String::new();
    for (i, v) in args.iter().enumerate() {
        if i > 0 && !v.is_string() && !args[i - 1].is_string() {
            out.push(' ');
        }
        fmt_arg(&mut out, v, 'v', &Spec::default());
    }
    out
}

/// Go's `%v` for a float64: shortest digits, exponent form outside 1e-4 ≤ |f| < 1e6.
fn go_float(f: f64) -> String {
    let e = format!("{f:e}");
    let (mant, exp) = split_exp(&e);
    if (-4..6).contains(&exp) {
        format!("{f}")
    } else {
        go_exp(mant, exp)
    }
}

/// Splits Rust's `1.5e-7` into `("1.5", -7)`.
pub(crate) fn split_exp(s: &str) -> (&str, i32) {
    let (m, e) = s.split_once('e').unwrap_or((s, "0"));
    (m, e.parse().unwrap_or(0))
}

/// Go writes exponents with a sign and at least two digits: `1.5e-07`.
fn go_exp(mant: &str, exp: i32) -> String {
    let sign = if exp < 0 { '-' } else { '+' };
    format!("{mant}e{sign}{:02}", exp.unsigned_abs())
}

#[derive(Default)]
struct Spec {
    minus: bool,
    plus: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

pub(crate) fn sprintf(format: &str, args: &[&Value]) -> String {
    let (mut out, mut used) = (String::new(), 0);
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut sp = Spec::default();
        while let Some(f) = chars.next_if(|c| "-+ 0".contains(*c)) {
            match f {
                '-' => sp.minus = true,
                '+' => sp.plus = true,
                ' ' => sp.space = true,
                _ => sp.zero = true,
            }
        }
        sp.width = digits(&mut chars);
        if chars.next_if_eq(&'.').is_some() {
            sp.prec = Some(digits(&mut chars).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        if verb == 'v' {
            // `%+v` changes how Go prints structs, never numbers.
            sp.plus = false;
        }
        match args.get(used) {
            // Go refuses sizes past a million rather than allocate them.
            Some(_) if sp.width.max(sp.prec).is_some_and(|n| n > 1_000_000) => {
                out.push_str("%!(BADWIDTH)")
            }
            Some(v) => fmt_arg(&mut out, v, verb, &sp),
            None => out.push_str(&format!("%!{verb}(MISSING)")),
        }
        used += 1;
    }
    if used < args.len() {
        let extra: Vec<String> = args[used..].iter().map(|v| bad_arg(v)).collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

fn digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
        chars.next();
    }
    n
}

fn bad_arg(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        v => format!("{}={}", go_type(v), go_v(v)),
    }
}

/// Formats one operand; arrays and maps apply the verb to each element, as Go does.
fn fmt_arg(out: &mut String, v: &Value, verb: char, sp: &Spec) {
    let items: Vec<(Option<&str>, &Value)> = match (v, verb) {
        (_, 'T') => return pad(out, go_type(v), sp, true),
        (Value::Array(a), _) => a.iter().map(|x| (None, x)).collect(),
        (Value::Object(m), _) => {
            let mut entries: Vec<_> = m.iter().map(|(k, x)| (Some(k.as_str()), x)).collect();
            entries.sort_unstable_by_key(|e| e.0);
            entries
        }
        _ => {
            return match scalar(v, verb, sp) {
                // Numbers did their own zero padding, after the sign.
                Some(s) => pad(out, &s, sp, !v.is_number()),
                None if v.is_null() => out.push_str(&format!("%!{verb}(<nil>)")),
                None => out.push_str(&format!("%!{verb}({})", bad_arg(v))),
            };
        }
    };
    out.push_str(if v.is_array() { "[" } else { "map[" });
    for (i, (key, x)) in items.into_iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        if let Some(key) = key {
            fmt_arg(out, &Value::from(key), verb, sp);
            out.push(':');
        }
        fmt_arg(out, x, verb, sp);
    }
    out.push(']');
}

fn pad(out: &mut String, s: &str, sp: &Spec, zeros: bool) {
    let fill = sp.width.unwrap_or(0).saturating_sub(s.chars().count());
    let c = if zeros && sp.zero && !sp.minus {
        '0'
    } else {
        ' '
    };
    if sp.minus {
        out.push_str(s);
    }
    out.extend(std::iter::repeat_n(c, fill));
    if !sp.minus {
        out.push_str(s);
    }
}

/// A scalar under `verb`, or `None` when the verb does not apply to it.
fn scalar(v: &Value, verb: char, sp: &Spec) -> Option<String> {
    let prec = sp.prec.unwrap_or(usize::MAX);
    match (v, verb) {
        (Value::Null, 'v') => Some("<nil>".into()),
        (Value::Bool(b), 'v' | 't') => Some(b.to_string()),
        (Value::String(s), 'v' | 's') => Some(s.chars().take(prec).collect()),
        (Value::String(s), 'q') => Some(quote(s, '"')),
        (Value::String(s), 'x') => Some(s.bytes().take(prec).map(|b| format!("{b:02x}")).collect()),
        (Value::String(s), 'X') => Some(s.bytes().take(prec).map(|b| format!("{b:02X}")).collect()),
        (Value::Number(n), _) => number(n, verb, sp),
        _ => None,
    }
}

fn number(n: &Number, verb: char, sp: &Spec) -> Option<String> {
    let int = n
        .as_i64()
        .map(|i| (i < 0, i.unsigned_abs()))
        .or_else(|| n.as_u64().map(|u| (false, u)));
    match (int, verb) {
        (Some((neg, u)), 'v' | 'd') => Some(int_digits(neg, u.to_string(), sp)),
        (Some((neg, u)), 'x') => Some(int_digits(neg, format!("{u:x}"), sp)),
        (Some((neg, u)), 'X') => Some(int_digits(neg, format!("{u:X}"), sp)),
        // JSON keeps no int/float distinction, so float verbs take integers too.
        (_, 'v' | 'f' | 'F' | 'e' | 'E' | 'g' | 'G') => n.as_f64().map(|f| float(f, verb, sp)),
        _ => None,
    }
}

/// Sign, zero padding, then digits: Go's `%05d` of -42 is `-0042`.
fn signed(neg: bool, digits: &str, sp: &Spec, zero_ok: bool) -> String {
    let sign = match (neg, sp.plus, sp.space) {
        (true, _, _) => "-",
        (false, true, _) => "+",
        (false, false, true) => " ",
        _ => "",
    };
    let zeros = match sp.width {
        Some(w) if sp.zero && !sp.minus && zero_ok => w.saturating_sub(sign.len() + digits.len()),
        _ => 0,
    };
    format!("{sign}{}{digits}", "0".repeat(zeros))
}

fn int_digits(neg: bool, mut digits: String, sp: &Spec) -> String {
    if let Some(p) = sp.prec {
        digits = if digits == "0" && p == 0 {
            String::new()
        } else {
            format!("{digits:0>p$}")
        };
    }
    signed(neg, &digits, sp, sp.prec.is_none())
}

fn float(f: f64, verb: char, sp: &Spec) -> String {
    if !f.is_finite() {
        return (if f.is_nan() {
            "NaN"
        } else if f < 0.0 {
            "-Inf"
        } else {
            "+Inf"
        })
        .into();
    }
    let a = f.abs();
    let digits = match (verb, sp.prec) {
        ('f' | 'F', p) => format!("{a:.*}", p.unwrap_or(6)),
        ('e' | 'E', p) => {
            let s = format!("{a:.*e}", p.unwrap_or(6));
            let (m, e) = split_exp(&s);
            go_exp(m, e)
        }
        (_, None) => go_float(a),
        (_, Some(p)) => {
            // `%.Ng`: N significant digits, trailing zeros dropped.
            let p = p.max(1);
            let s = format!("{a:.*e}", p - 1);
            let (m, e) = split_exp(&s);
            let trim = |s: String| match s.contains('.') {
                true => s.trim_end_matches('0').trim_end_matches('.').to_owned(),
                false => s,
            };
            if e < -4 || e >= p as i32 {
                go_exp(&trim(m.to_owned()), e)
            } else {
                trim(format!("{a:.*}", (p as i32 - 1 - e).max(0) as usize))
            }
        }
    };
    let digits = if matches!(verb, 'E' | 'G') {
        digits.to_ascii_uppercase()
    } else {
        digits
    };
    signed(f.is_sign_negative(), &digits, sp, true)
}

/// Close to Go's `unicode.IsPrint`: no controls, no spaces but ' ', no format characters.
pub(crate) fn printable(c: char) -> bool {
    let format =
        matches!(c, '\u{ad}' | '\u{200b}'..='\u{200f}' | '\u{2060}'..='\u{2064}' | '\u{feff}');
    c == ' ' || !(c.is_control() || c.is_whitespace() || format)
}

/// Go's `strconv.Quote` (or `QuoteRune` with `'`).
fn quote(s: &str, q: char) -> String {
    let mut out = String::from(q);
    for c in s.chars() {
        let u = c as u32;
        if let Some(i) = "\x07\x08\x0c\n\r\t\x0b\\".find(c) {
            out.extend(['\\', "abfnrtv\\".as_bytes()[i] as char]);
        } else if c == q {
            out.extend(['\\', c]);
        } else if u < 0x20 || u == 0x7f {
            out.push_str(&format!("\\x{u:02x}"));
        } else if printable(c) {
            out.push(c);
        } else if u < 0x10000 {
            out.push_str(&format!("\\u{u:04x}"));
        } else {
            out.push_str(&format!("\\U{u:08x}"));
        }
    }
    out.push(q);
    out
}
