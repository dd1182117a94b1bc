//! Expected outputs were checked against Go's text/template.

use super::*;
use serde_json::json;

fn data() -> Value {
    json!({
        "A": "x", "B": "", "N": null, "Z": 0, "I": 42, "F": 2.5, "T": true, "S": "str",
        "L": [1, "a", null, {"b": 2}], "E": [],
        "M": {"b": 1, "a": [2.5], "c": "z"},
        "Nest": {"X": {"Y": "deep"}},
        "Paths": ["/home", "/etc"],
        "Q": "it's <b>&\"x\"\n",
    })
}

fn r(src: &str) -> String {
    match render(src, &data(), &()) {
        Ok(s) => s,
        Err(e) => panic!("{src:?} failed: {e}"),
    }
}

fn err(src: &str) -> String {
    match render(src, &data(), &()) {
        Ok(s) => panic!("{src:?} rendered {s:?}, wanted an error"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn text_without_actions_is_copied() {
    assert_eq!(r("plain { text } here\n"), "plain { text } here\n");
    assert_eq!(r(""), "");
}

#[test]
fn fields_chain_and_missing_keys_print_no_value() {
    assert_eq!(
        r("{{ .A }}|{{ .Nest.X.Y }}|{{ .Missing }}|{{ .Missing.X.Y }}|{{ .N }}"),
        "x|deep|<no value>|<no value>|<no value>"
    );
    assert_eq!(
        r("{{ $.A }}{{ $n := .Nest }}{{ $n.X.Y }}{{ (.Nest).X.Y }}"),
        "xdeepdeep"
    );
}

#[test]
fn values_print_like_go() {
    assert_eq!(
        r("{{ .L }}|{{ .M }}|{{ .F }}|{{ .I }}|{{ .T }}|{{ .E }}"),
        "[1 a <nil> map[b:2]]|map[a:[2.5] b:1 c:z]|2.5|42|true|[]"
    );
    assert_eq!(
        r("{{ print 1.0 2.50 1e21 1e-5 -0.0 1e6 123456.7 }}"),
        "1 2.5 1e+21 1e-05 -0 1e+06 123456.7"
    );
}

#[test]
fn literals() {
    let t = r#"{{ 1 }}|{{ 1.5 }}|{{ "s" }}|{{ true }}|{{ 0x1F }}|{{ -3 }}|{{ 1_000 }}|{{ 1e3 }}|{{ +5 }}"#;
    assert_eq!(r(t), "1|1.5|s|true|31|-3|1000|1000|5");
    assert_eq!(
        r(r#"{{ "\u00e9\x41\t\"" }}|{{ `raw\n` }}"#),
        "éA\t\"|raw\\n"
    );
    assert_eq!(
        err("{{ 017 }}"),
        r#"template:1:4: bad number syntax: "017""#
    );
    assert_eq!(
        err("{{ 'a' }}"),
        r#"template:1:4: unexpected "'" in operand"#
    );
}

#[test]
fn field_of_null_is_an_error_with_position() {
    assert_eq!(
        err("ab\n  {{ .N.X }}"),
        "template:2:6: nil pointer evaluating .N.X"
    );
    assert_eq!(
        err("{{ .S.X }}"),
        "template:1:4: can't evaluate field X in type string"
    );
    assert_eq!(
        err("{{ $.A.B }}"),
        "template:1:4: can't evaluate field B in type string"
    );
}

#[test]
fn trim_markers_remove_adjacent_whitespace() {
    assert_eq!(
        r(
            "a {{- .A -}} b|a {{- /* comment */ -}} b|{{/* c */}}x|a {{ .A -}}\n\n  b|a  \n{{- .A }}"
        ),
        "axb|ab|x|a xb|ax"
    );
    assert_eq!(r("{{-3}}|{{- -3 -}}|a\t{{- 1 -}}\t\nb"), "-3|-3|a1b");
    assert_eq!(r("x \n {{- /* multi\nline */ -}} \n y"), "xy");
}

#[test]
fn actions_may_span_lines() {
    assert_eq!(r("{{ .A\n}}|{{\n.A }}|{{ printf\n\"%s\"\n.A }}"), "x|x|x");
}

#[test]
fn if_else_if_chains() {
    assert_eq!(
        r("{{ if .A }}yes{{ end }}{{ if .B }}no{{ else }}empty{{ end }}"),
        "yesempty"
    );
    assert_eq!(
        r("{{ if .Z }}a{{ else if .B }}b{{ else if .I }}c{{ else }}d{{ end }}"),
        "c"
    );
    assert_eq!(r("{{ if .Z }}a{{ else if .B }}b{{ else }}d{{ end }}"), "d");
    assert_eq!(r("{{ if .Z }}a{{ else if .B }}b{{ end }}"), "");
    let nested = "{{ if .A }}{{ if .B }}1{{ else if .Z }}2{{ else if .I }}{{ if .T }}3{{ end }}{{ end }}{{ end }}";
    assert_eq!(r(nested), "3");
}

#[test]
fn truthiness_follows_go() {
    let t = "{{ range .V }}{{ if . }}T{{ else }}F{{ end }}{{ end }}";
    let v = json!({"V": [0, 1, "", "a", [], [0], {}, {"a": 1}, null, false, true, 0.0, -0.5]});
    assert_eq!(render(t, &v, &()).unwrap(), "FTFTFTFTFFTFT");
}

#[test]
fn range_over_arrays_with_index_and_else() {
    assert_eq!(
        r("{{ range .L }}[{{ . }}]{{ end }}"),
        "[1][a][<no value>][map[b:2]]"
    );
    assert_eq!(
        r("{{ range $i, $v := .L }}{{ $i }}={{ $v }};{{ end }}"),
        "0=1;1=a;2=<no value>;3=map[b:2];"
    );
    assert_eq!(
        r("{{ range .E }}x{{ else }}empty{{ end }}{{ range .Missing }}x{{ else }}none{{ end }}"),
        "emptynone"
    );
    assert_eq!(
        r("{{ range $i, $e := .Paths }}{{ if $i }}, {{ end }}{{ $e }}{{ end }}"),
        "/home, /etc"
    );
}

#[test]
fn range_over_maps_is_in_sorted_key_order() {
    assert_eq!(
        r("{{ range $k, $v := .M }}{{ $k }}={{ $v }};{{ end }}"),
        "a=[2.5];b=1;c=z;"
    );
    assert_eq!(r("{{ range .M }}{{ . }};{{ end }}"), "[2.5];1;z;");
}

#[test]
fn range_break_and_continue() {
    let t = r#"{{ range .L }}{{ if eq (printf "%v" .) "1" }}{{ continue }}{{ end }}{{ if not . }}{{ break }}{{ end }}{{ . }},{{ end }}"#;
    assert_eq!(r(t), "a,");
    assert_eq!(
        r("{{ range .Paths }}{{ with . }}{{ break }}{{ end }}x{{ end }}y"),
        "y"
    );
}

#[test]
fn range_over_a_scalar_is_an_error() {
    assert_eq!(
        err("{{ range .S }}x{{ end }}"),
        "template:1:10: range can't iterate over str"
    );
}

#[test]
fn dollar_is_the_root_inside_range_and_with() {
    assert_eq!(
        r("{{ range .Paths }}{{ $.A }}{{ . }}{{ end }}"),
        "x/homex/etc"
    );
    assert_eq!(
        r(
            "{{ with .Nest }}{{ $.A }}{{ .X.Y }}{{ end }}{{ with .Missing }}x{{ else }}nope{{ end }}"
        ),
        "xdeepnope"
    );
    assert_eq!(
        r(
            "{{ with .A }}{{ else with .B }}{{ end }}{{ with .Z }}{{ else with .I }}{{ . }}{{ end }}"
        ),
        "42"
    );
}

#[test]
fn variables_declare_assign_and_scope() {
    assert_eq!(
        r(
            r#"{{ $x := 1 }}{{ $x }}{{ $x = "two" }}{{ $x }}{{ if true }}{{ $x = 3 }}{{ $y := 4 }}{{ end }}{{ $x }}"#
        ),
        "1two3"
    );
    assert_eq!(
        r("{{ $x := 1 }}{{ range .Paths }}{{ $x = . }}{{ end }}{{ $x }}"),
        "/etc"
    );
    assert_eq!(
        r("{{ with $x := .A }}{{ $x }}{{ . }}{{ end }}{{ if $y := .A }}{{ $y }}{{ end }}"),
        "xxx"
    );
    assert_eq!(
        err("{{ range .L }}{{ $y := . }}{{ end }}{{ $y }}"),
        "template:1:40: undefined variable \"$y\""
    );
    assert_eq!(
        err("{{ $u = 1 }}"),
        "template:1:4: undefined variable \"$u\""
    );
}

#[test]
fn pipelines_pass_the_value_as_last_argument() {
    assert_eq!(r(r#"{{ .A | printf "%s-%s" "p" }}"#), "p-x");
    assert_eq!(r(r#"{{ "abc" | len }}{{ .L | len }}{{ .M | len }}"#), "343");
    assert_eq!(
        r(r#"{{ printf "%s" .A | printf "%s!" }}{{ $x := "a" | printf "%s%s" "b" }}{{ $x }}"#),
        "x!ba"
    );
    assert_eq!(
        r(r#"{{ (printf "%s-%s" (printf "%d" 1) (print .A)) }}{{ ((((1)))) }}"#),
        "1-x1"
    );
}

#[test]
fn comparison_functions() {
    let t = r#"{{ eq 1 1 }}{{ eq 1 2 }}{{ eq "a" "a" }}{{ eq .I 42 }}{{ eq 1 2 3 1 }}{{ ne 1 2 }}{{ lt 1 2 }}{{ le 2 2 }}{{ gt "b" "a" }}{{ ge 1 2 }}"#;
    assert_eq!(r(t), "truefalsetruetruetruetruetruetruetruefalse");
    assert_eq!(
        r(r#"{{ eq .Missing "x" }}{{ eq .N .Missing }}{{ eq .I 42.0 }}{{ lt 1 1.5 }}"#),
        "falsetruetruetrue"
    );
    assert_eq!(
        err(r#"{{ eq 1 "a" }}"#),
        "template:1:4: error calling eq: incompatible types for comparison"
    );
    assert_eq!(
        err("{{ lt true false }}"),
        "template:1:4: error calling lt: invalid type for comparison"
    );
    assert_eq!(
        err("{{ eq .L .L }}"),
        "template:1:4: error calling eq: non-comparable type []interface {}"
    );
}

#[test]
fn and_or_return_a_deciding_operand_and_stop_early() {
    assert_eq!(
        r(
            r#"{{ and 1 0 2 }}|{{ and 1 2 }}|{{ or 0 "" "x" }}|{{ or 0 "" }}|{{ not 0 }}|{{ not "a" }}"#
        ),
        "0|2|x||true|false"
    );
    assert_eq!(
        r(r#"{{ .B | or "dflt" }}|{{ or 1 (index .L 9) }}"#),
        "dflt|1"
    );
    assert_eq!(
        err("{{ and 1 (index .L 9) }}"),
        "template:1:11: error calling index: index out of range: 9"
    );
}

#[test]
fn len_and_index() {
    assert_eq!(
        r(r#"{{ index .L 1 }}{{ index .M "c" }}{{ index .Nest "X" "Y" }}{{ index .M "zz" }}"#),
        "azdeep<no value>"
    );
    assert_eq!(r(r#"{{ len "héllo" }}{{ len .E }}"#), "60");
    assert_eq!(
        err("{{ len .N }}"),
        "template:1:4: error calling len: len of nil pointer"
    );
    assert_eq!(
        err("{{ len 1 2 }}"),
        "template:1:4: wrong number of args for len: want 1 got 2"
    );
    assert_eq!(
        err("{{ index .N 1 }}"),
        "template:1:4: error calling index: index of untyped nil"
    );
}

#[test]
fn print_functions_space_like_go() {
    assert_eq!(
        r(r#"{{ print .N 1 2 "a" "b" 3 }}|{{ println 1 "a" }}|{{ print }}|{{ print .Missing }}"#),
        "<nil> 1 2ab3|1 a\n||<nil>"
    );
}

#[test]
fn escaping_functions() {
    assert_eq!(r("{{ html .Q }}"), "it&#39;s &lt;b&gt;&amp;&#34;x&#34;\n");
    assert_eq!(
        r("{{ js .Q }}"),
        "it\\'s \\u003Cb\\u003E\\u0026\\\"x\\\"\\u000A"
    );
    assert_eq!(
        r(r#"{{ urlquery .Q "a b" }}|{{ html 1 2 }}|{{ js "a\u2028b" }}"#),
        "it%27s+%3Cb%3E%26%22x%22%0Aa+b|1 2|a\\u2028b"
    );
}

#[test]
fn printf_verbs_flags_and_widths() {
    let t = r#"{{ printf "%.2f %.1f %.0f %.0f %e %g %g %G %v %5.1f|%-6d|%06d|%+d|%x|%X|%q|%x|%8.3s|%-5s|%t" 0.125 0.25 2.5 3.5 1234567.0 1234567.0 0.00001 1e-7 1e6 3.14159 42 -42 5 255 255 "a\"b\n" "hi" "abcdef" "x" true }}"#;
    assert_eq!(
        r(t),
        r#"0.12 0.2 2 4 1.234567e+06 1.234567e+06 1e-05 1E-07 1e+06   3.1|42    |-00042|+5|ff|FF|"a\"b\n"|6869|     abc|x    |true"#
    );
    let t = r#"{{ printf "%3d|%-3d|%03d|%.3d|%+.3d|% d|%x|%08.3d" 7 7 7 7 7 7 -1 -7 }}"#;
    assert_eq!(r(t), "  7|7  |007|007|+007| 7|-1|    -007");
    let t = r#"{{ printf "%.3g|%.5g|%g|%g|%.2g|%10.4v|%-10v|%05s|%T|%T" 100.0 1.5 123456.7 0.0001234 123456.0 3.14159 "ab" "ab" .M .S }}"#;
    assert_eq!(
        r(t),
        "100|1.5|123456.7|0.0001234|1.2e+05|     3.142|ab        |000ab|map[string]interface {}|string"
    );
    assert_eq!(
        r(r#"{{ printf "%v|%+v|%s|%d" .Nest .L .Paths .Paths }}"#),
        "map[X:map[Y:deep]]|[1 a <nil> map[b:2]]|[/home /etc]|[%!d(string=/home) %!d(string=/etc)]"
    );
}

#[test]
fn printf_reports_bad_missing_and_extra_operands() {
    assert_eq!(
        r(
            r#"{{ printf "%d %d" 1 }}|{{ printf "%d" 1 2 "x" }}|{{ printf "%d|%s|%t" 1.5 5 1 }}|{{ printf "100%%" }}"#
        ),
        "1 %!d(MISSING)|1%!(EXTRA int=2, string=x)|%!d(float64=1.5)|%!s(int=5)|%!t(int=1)|100%"
    );
    assert_eq!(
        r(r#"{{ printf "%v %s %d" .N .N .N }}"#),
        "<nil> %!s(<nil>) %!d(<nil>)"
    );
}

#[test]
fn printf_float_verbs_accept_integers() {
    assert_eq!(r(r#"{{ printf "%.2f" 3 }}"#), "3.00");
}

#[test]
fn parse_errors_have_line_col_and_go_messages() {
    let cases = [
        ("{{ .A } }}", r#"template:1:7: unexpected "}" in operand"#),
        ("ok\n{{ .A", "template:2:1: unclosed action"),
        ("{{ if .A }}x", "template:1:13: unexpected EOF"),
        ("{{ end }}", "template:1:4: unexpected {{end}}"),
        ("{{ else }}", "template:1:4: unexpected {{else}}"),
        ("{{ }}", "template:1:4: missing value for command"),
        ("{{ if }}{{ end }}", "template:1:7: missing value for if"),
        ("{{ foo }}", r#"template:1:4: function "foo" not defined"#),
        ("{{ $x }}", r#"template:1:4: undefined variable "$x""#),
        (
            r#"{{ .A"x" }}"#,
            r#"template:1:6: bad character U+0022 '"'"#,
        ),
        (r#"{{ "abc }}"#, "template:1:4: unterminated quoted string"),
        (
            "{{/* x */ .A }}",
            "template:1:10: comment ends before closing delimiter",
        ),
        ("{{/* x", "template:1:1: unclosed comment"),
        ("{{ (1 }}", "template:1:7: unclosed left paren"),
        ("{{ break }}", "template:1:4: {{break}} outside {{range}}"),
        ("{{ 3x }}", r#"template:1:4: bad number syntax: "3x""#),
        (
            "{{ .A | 1 }}",
            "template:1:9: non executable command in pipeline stage 2",
        ),
        ("{{ .A | }}", "template:1:9: missing value for command"),
        (r#"{{ "a".X }}"#, "template:1:7: unexpected . after term"),
        (
            "{{ template \"x\" }}",
            "template:1:4: {{template}} is not supported",
        ),
        (
            "{{ range .L }}{{ else if .A }}{{ end }}",
            "template:1:23: unexpected <if> in else",
        ),
        (
            "{{ if 1 }}{{ else }}{{ else }}{{ end }}",
            "template:1:24: expected end; found {{else}}",
        ),
        ("{{ # }}", r##"template:1:4: unexpected "#" in operand"##),
        ("{{ é }}", "template:1:4: function \"é\" not defined"),
        (
            "{{ \u{1F600} }}",
            "template:1:4: unexpected \"\u{1F600}\" in operand",
        ),
    ];
    for (src, want) in cases {
        assert_eq!(err(src), want, "{src:?}");
    }
}

#[test]
fn exec_errors_have_line_col() {
    assert_eq!(err("{{ nil }}"), "template:1:4: nil is not a command");
    assert_eq!(
        err("{{ 1 2 }}"),
        "template:1:4: can't give argument to non-function 1"
    );
    assert_eq!(
        err("{{ .A 1 }}"),
        "template:1:4: A is not a method but has arguments"
    );
    assert_eq!(
        err("x\ny {{ printf 1 }}"),
        "template:2:6: error calling printf: wrong type for value; expected string; got int"
    );
    assert!(matches!(
        render("{{ nil }}", &data(), &()),
        Err(Error::Exec {
            line: 1,
            col: 4,
            ..
        })
    ));
    assert!(matches!(
        render("{{ nil", &data(), &()),
        Err(Error::Parse {
            line: 1,
            col: 1,
            ..
        })
    ));
}

#[test]
fn methods_are_found_on_the_root_and_take_arguments_and_piped_values() {
    let methods = |name: &str, root: &Value, args: &[Value]| match name {
        "Join" => Some(Ok(Value::from(
            args.iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join("+"),
        ))),
        "Root" => Some(Ok(root["A"].clone())),
        "Fail" => Some(Err("nope".to_owned())),
        _ => None,
    };
    let out = render(
        r#"{{ .Join 1 "a" }}|{{ 2 | .Join 1 }}|{{ .Root }}|{{ range .Paths }}{{ $.Join . }}{{ end }}|{{ .Missing }}|{{ .Join }}"#,
        &data(),
        &methods,
    );
    assert_eq!(out.unwrap(), r#"1+"a"|1+2|x|"/home""/etc"|<no value>|"#);
    assert_eq!(
        render("{{ .Fail }}", &data(), &methods)
            .unwrap_err()
            .to_string(),
        "template:1:4: error calling Fail: nope"
    );
    // Only the root has methods: inside `with`, `.Root` is a field of the new dot.
    assert_eq!(
        render("{{ with .Nest }}{{ .Root }}{{ end }}", &data(), &methods).unwrap(),
        "<no value>"
    );
    assert_eq!(
        render("{{ .Join .Missing }}", &data(), &methods).unwrap(),
        "null"
    );
}

#[test]
fn a_parsed_template_renders_many_times() {
    let t = Template::parse("{{ .A }}").unwrap();
    assert_eq!(t.render(&json!({"A": 1}), &()).unwrap(), "1");
    assert_eq!(t.render(&json!({"A": 2}), &()).unwrap(), "2");
}

#[test]
fn loops_that_print_nothing_still_stop() {
    let v = json!({"L": vec![0; 1000]});
    let e = render(
        "{{ range .L }}{{ range $.L }}{{ range $.L }}{{ end }}{{ end }}{{ end }}",
        &v,
        &(),
    )
    .unwrap_err();
    assert!(e.message().contains("steps of work"), "{e}");
    let e = render(
        "{{ $s := \"ab\" }}{{ range .L }}{{ $s = print $s $s }}{{ end }}",
        &v,
        &(),
    )
    .unwrap_err();
    assert!(e.message().contains("longer than"), "{e}");
}

#[test]
fn output_is_capped() {
    let v = json!({"L": vec![0; 2000]});
    let e = render(r#"{{ range .L }}{{ printf "%1000d" 1 }}{{ end }}"#, &v, &()).unwrap_err();
    assert!(e.message().contains("output longer than"), "{e}");
    assert_eq!(r(r#"{{ printf "%2000000d" 1 }}"#), "%!(BADWIDTH)");
}

#[test]
fn deep_nesting_is_refused_not_overflowed() {
    let deep = "{{ if 1 }}".repeat(200) + &"{{ end }}".repeat(200);
    assert!(err(&deep).contains("nesting deeper than 100"));
    let parens = "{{ ".to_owned() + &"(".repeat(5000) + "1" + &")".repeat(5000) + " }}";
    assert!(err(&parens).contains("nesting deeper than 100"));
}

#[test]
fn garbage_input_never_panics() {
    let pieces = [
        "{{", "}}", "{{-", "-}}", " ", "\n", ".", "$", "$x", ":=", "=", "|", "(", ")", "\"", "`",
        "'", "/*", "*/", "if", "else", "end", "range", "with", "break", "printf", "1", "-", "é",
        ".A", ",", "\\", "0x", "1e", "nil",
    ];
    let mut seed: u64 = 0x2545F4914F6CDD1D;
    for _ in 0..5_000 {
        let mut src = String::new();
        for _ in 0..(seed % 12) {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            src.push_str(pieces[(seed % pieces.len() as u64) as usize]);
        }
        let _ = render(&src, &data(), &());
    }
}

mod hooks {
    //! Backrest's helpers and summaries; expected texts are Backrest's output for the same vars.

    use super::super::backrest::*;
    use serde_json::{Value, json};

    fn vars(event: &str) -> Value {
        json!({
            "Task": "backup for plan \"nightly\"",
            "Event": event,
            "Repo": {"Id": "b2", "Uri": "s3:bucket/x"},
            "Plan": {"Id": "nightly", "Repo": "b2", "Paths": ["/home/me", "/etc"]},
            "SnapshotId": "abc123def",
            "SnapshotStats": {
                "FilesNew": 3, "FilesChanged": 14, "FilesUnmodified": 2000,
                "DirsNew": 1, "DirsChanged": 5, "DirsUnmodified": 300,
                "DataBlobs": 17, "TreeBlobs": 6, "DataAdded": 1536000,
                "TotalFilesProcessed": 2017, "TotalBytesProcessed": 987654321, "TotalDuration": 12.537,
            },
            "CurTime": "2024-05-01T10:20:30.123456+02:00",
            "Duration": go_duration(93_500_123_456),
            "Error": "",
        })
    }

    fn with(mut v: Value, key: &str, val: Value) -> Value {
        v[key] = val;
        v
    }

    #[test]
    fn summary_of_a_successful_snapshot_matches_backrest() {
        let want = "\nBackrest Snapshot Notification\nTask: backup for plan \"nightly\" at 2024-05-01T10:20:30+02:00\n\
            Event: snapshot success\nSnapshot: abc123def\nOverview:\n- Data added: 1.536 MB\n- Total files processed: 2017\n\
            - Total bytes processed: 987.654 MB\n\nBackup Statistics:\n- Files new: 3\n- Files changed: 14\n\
            - Files unmodified: 2000\n- Dirs new: 1\n- Dirs changed: 5\n- Dirs unmodified: 300\n- Data blobs: 17\n\
            - Tree blobs: 6\n- Total duration: 12.537s\n\n";
        assert_eq!(
            render("{{ .Summary }}", &vars("CONDITION_SNAPSHOT_SUCCESS")).unwrap(),
            want
        );
        assert_eq!(
            render("  ", &vars("CONDITION_SNAPSHOT_SUCCESS")).unwrap(),
            want
        );
        assert_eq!(
            render("", &vars("CONDITION_SNAPSHOT_SUCCESS")).unwrap(),
            want
        );
    }

    #[test]
    fn summary_of_a_failed_snapshot_end_matches_backrest() {
        let v = with(
            vars("CONDITION_SNAPSHOT_END"),
            "Error",
            json!("restic exited with status 3: some files unreadable"),
        );
        let want = "\nBackrest Snapshot Notification\nTask: backup for plan \"nightly\" at 2024-05-01T10:20:30+02:00\n\
            Event: snapshot end\nSnapshot: abc123def\nError: restic exited with status 3: some files unreadable\n";
        assert_eq!(summary(&v).unwrap(), want);
        let v = with(vars("CONDITION_SNAPSHOT_END"), "SnapshotStats", Value::Null);
        let want = "\nBackrest Snapshot Notification\nTask: backup for plan \"nightly\" at 2024-05-01T10:20:30+02:00\n\
            Event: snapshot end\nSnapshot: abc123def\n\n";
        assert_eq!(summary(&v).unwrap(), want);
    }

    #[test]
    fn summary_of_a_snapshot_error_matches_backrest() {
        let v = with(
            vars("CONDITION_SNAPSHOT_ERROR"),
            "Error",
            json!("exit status 1"),
        );
        let want = "\nBackrest Error\nTask: backup for plan \"nightly\" at 2024-05-01T10:20:30+02:00\n\
            Event: snapshot error\nRepo: b2\nError: exit status 1\n\n";
        assert_eq!(summary(&v).unwrap(), want);
    }

    #[test]
    fn summary_of_a_prune_matches_backrest() {
        let v = with(
            vars("CONDITION_PRUNE_SUCCESS"),
            "Task",
            json!("prune for repo \"b2\""),
        );
        let want = "\nBackrest Notification\nTask: prune for repo \"b2\" at 2024-05-01T10:20:30+02:00\nEvent: prune success\n\n";
        assert_eq!(summary(&v).unwrap(), want);
        assert_eq!(summary(&with(v, "Event", json!(102))).unwrap(), want);
    }

    #[test]
    fn summary_of_a_snapshot_start_matches_backrest() {
        let v = with(
            vars("CONDITION_SNAPSHOT_START"),
            "CurTime",
            json!("2024-12-31T23:59:59Z"),
        );
        let want = "\nBackrest Notification for Snapshot Start\nTask: \"backup for plan \"nightly\"\" at 2024-12-31T23:59:59Z\n\
            Event: snapshot start\nRepo: b2 \nPlan: nightly \nPaths: \n- /home/me\n- /etc\n";
        assert_eq!(summary(&v).unwrap(), want);
    }

    #[test]
    fn summary_with_a_null_repo_fails_like_backrest() {
        let v = with(
            with(vars("CONDITION_PRUNE_ERROR"), "Repo", Value::Null),
            "Error",
            json!("x"),
        );
        let e = render("{{ .Summary }}", &v).unwrap_err().to_string();
        assert_eq!(
            e,
            "template:1:4: error calling Summary: template:6:10: nil pointer evaluating .Repo.Id"
        );
    }

    #[test]
    fn event_names_cover_every_condition() {
        let names = [
            (1, "error"),
            (2, "snapshot start"),
            (3, "snapshot end"),
            (4, "snapshot error"),
            (5, "snapshot warning"),
            (6, "snapshot success"),
            (7, "snapshot skipped"),
            (100, "prune start"),
            (101, "prune error"),
            (102, "prune success"),
            (200, "check start"),
            (201, "check error"),
            (202, "check success"),
            (300, "forget start"),
            (301, "forget error"),
            (302, "forget success"),
            (0, "unknown"),
            (9, "unknown"),
        ];
        for (n, name) in names {
            assert_eq!(event_name(&json!(n)), name);
        }
        assert_eq!(event_name(&json!("CONDITION_CHECK_ERROR")), "check error");
        assert_eq!(event_name(&json!("nope")), "unknown");
        let out = render(
            "{{ .EventName .Event }} {{ .IsError .Event }} {{ .Event }}",
            &vars("CONDITION_SNAPSHOT_SUCCESS"),
        );
        assert_eq!(
            out.unwrap(),
            "snapshot success false CONDITION_SNAPSHOT_SUCCESS"
        );
    }

    #[test]
    fn is_error_is_true_only_for_any_error_and_snapshot_error() {
        assert!(is_error(&json!("CONDITION_ANY_ERROR")) && is_error(&json!(4)));
        assert!(
            !is_error(&json!("CONDITION_PRUNE_ERROR"))
                && !is_error(&json!(201))
                && !is_error(&json!(6))
        );
    }

    #[test]
    fn size_bytes_use_powers_of_1000_with_three_decimals() {
        let cases = [
            (json!(0), "0.000 B"),
            (json!(999), "999.000 B"),
            (json!(1000), "1000.000 B"),
            (json!(1001), "1.001 KB"),
            (json!(1536000), "1.536 MB"),
            (json!(999999999999i64), "1000.000 GB"),
            (json!(-5000), "-5000.000 B"),
            (json!(1.5), "0.000 B"),
            (json!("12"), "0.000 B"),
            (json!(1234567890123456i64), "1.235 PB"),
            (json!(i64::MAX), "9223.372 PB"),
        ];
        for (v, want) in cases {
            assert_eq!(format_size_bytes(&v), want, "{v}");
        }
    }

    #[test]
    fn shell_escape_quotes_like_shellescape() {
        let cases = [
            ("", "''"),
            ("abc-1.2/x:y@z%+=,", "abc-1.2/x:y@z%+=,"),
            ("it's", r#"'it'"'"'s'"#),
            ("a b", "'a b'"),
            ("héllo", "'héllo'"),
            ("$HOME", "'$HOME'"),
            ("a\nb", "'a\nb'"),
        ];
        for (s, want) in cases {
            assert_eq!(shell_escape(s), want);
        }
        let v = with(
            vars("CONDITION_SNAPSHOT_ERROR"),
            "Error",
            json!("it's broken; rm -rf /"),
        );
        let script = "#!/bin/sh\necho {{ .ShellEscape .Error }} >> /tmp/log\n{{ if .IsError .Event -}}\nexit 1\n{{- end }}";
        assert_eq!(
            render(script, &v).unwrap(),
            "#!/bin/sh\necho 'it'\"'\"'s broken; rm -rf /' >> /tmp/log\nexit 1"
        );
    }

    #[test]
    fn json_marshal_writes_go_json() {
        let cases = [
            (json!("a\"b"), r#""a\"b""#),
            (json!("<a&b>"), r#""\u003ca\u0026b\u003e""#),
            (json!(1), "1"),
            (json!(1.0), "1"),
            (json!(12.537), "12.537"),
            (json!(1e21), "1e+21"),
            (json!(1e-7), "1e-7"),
            (json!(null), "null"),
            (
                json!("\u{8}\u{c}\u{1}\u{2028}é\n"),
                r#""\b\f\u0001\u2028é\n""#,
            ),
            (
                json!({"b": [true, null], "a": {"z": 1, "y": "s"}}),
                r#"{"a":{"y":"s","z":1},"b":[true,null]}"#,
            ),
        ];
        for (v, want) in cases {
            assert_eq!(json_marshal(&v), want);
        }
        let out = render(
            r#"{"text": {{ .JsonMarshal .Summary }}}"#,
            &vars("CONDITION_PRUNE_SUCCESS"),
        )
        .unwrap();
        let parsed: Value = serde_json::from_str(&out).unwrap();
        assert!(
            parsed["text"]
                .as_str()
                .unwrap()
                .contains("Event: prune success")
        );
    }

    #[test]
    fn format_time_is_rfc3339_in_seconds_with_the_given_offset() {
        assert_eq!(
            format_time("2024-05-01T10:20:30.999999999-07:30").as_deref(),
            Some("2024-05-01T10:20:30-07:30")
        );
        assert_eq!(
            format_time("2024-05-01T10:20:30+00:00").as_deref(),
            Some("2024-05-01T10:20:30Z")
        );
        assert_eq!(
            format_time("2024-05-01 10:20:30z").as_deref(),
            Some("2024-05-01T10:20:30Z")
        );
        for bad in [
            "",
            "2024-05-01",
            "2024-05-01T10:20:30",
            "2024-05-01T10:20:30+0200",
            "2024-05-01T10:20:30Zjunk",
            "2024-05-01T10:20:30+é:00",
        ] {
            assert_eq!(format_time(bad), None, "{bad}");
        }
        let e = render(
            "{{ .FormatTime .Task }}",
            &vars("CONDITION_SNAPSHOT_SUCCESS"),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "template:1:4: error calling FormatTime: not an RFC 3339 time: \"backup for plan \\\"nightly\\\"\""
        );
    }

    #[test]
    fn durations_print_like_go_and_format_truncated_to_milliseconds() {
        let cases = [
            (0, "0s", "0s"),
            (999_999, "999.999µs", "0s"),
            (1_500_000, "1.5ms", "1ms"),
            (93_500_123_456, "1m33.500123456s", "1m33.5s"),
            (7_200_000_000_000, "2h0m0s", "2h0m0s"),
            (-61_001_000_000, "-1m1.001s", "-1m1.001s"),
            (999, "999ns", "0s"),
            (3_723_004_005_006, "1h2m3.004005006s", "1h2m3.004s"),
            (i64::MAX, "2562047h47m16.854775807s", "2562047h47m16.854s"),
            (i64::MIN, "-2562047h47m16.854775808s", "-2562047h47m16.854s"),
        ];
        for (nanos, printed, formatted) in cases {
            assert_eq!(go_duration(nanos), printed);
            assert_eq!(
                format_duration(&json!(nanos)).as_deref(),
                Some(formatted),
                "{nanos}"
            );
            assert_eq!(
                format_duration(&json!(printed)).as_deref(),
                Some(formatted),
                "{printed}"
            );
        }
        assert_eq!(format_duration(&json!("2us")).as_deref(), Some("0s"));
        for bad in [
            json!(""),
            json!("1"),
            json!("1x"),
            json!(".s"),
            json!(1.5),
            json!("99999999999h"),
        ] {
            assert_eq!(format_duration(&bad), None, "{bad}");
        }
        let v = vars("CONDITION_SNAPSHOT_SUCCESS");
        assert_eq!(
            render("{{ .Duration }} {{ .FormatDuration .Duration }}", &v).unwrap(),
            "1m33.500123456s 1m33.5s"
        );
    }

    #[test]
    fn methods_work_in_pipelines_ranges_and_withs() {
        let v = vars("CONDITION_SNAPSHOT_SUCCESS");
        let out = render(
            r#"{{ .CurTime | .FormatTime }} {{ .SnapshotStats.DataAdded | .FormatSizeBytes }} {{ $.EventName .Event | printf "%q" }}"#,
            &v,
        );
        assert_eq!(
            out.unwrap(),
            "2024-05-01T10:20:30+02:00 1.536 MB \"snapshot success\""
        );
        let out = render(
            "{{ range $i, $p := .Plan.Paths }}{{ if $i }}, {{ end }}{{ $.ShellEscape $p }}{{ end }}",
            &v,
        );
        assert_eq!(out.unwrap(), "/home/me, /etc");
        let out = render(
            "{{ with .SnapshotStats }}{{ .FilesNew }} new, {{ $.FormatSizeBytes .DataAdded }}{{ else }}no stats{{ end }}",
            &v,
        );
        assert_eq!(out.unwrap(), "3 new, 1.536 MB");
        let out = render(
            r#"{{ printf "%.1f s, %d files" .SnapshotStats.TotalDuration .SnapshotStats.TotalFilesProcessed }}"#,
            &v,
        );
        assert_eq!(out.unwrap(), "12.5 s, 2017 files");
    }

    #[test]
    fn methods_check_argument_count_and_type() {
        let v = vars("CONDITION_SNAPSHOT_SUCCESS");
        let e = render("{{ .FormatTime }}", &v).unwrap_err().to_string();
        assert_eq!(
            e,
            "template:1:4: error calling FormatTime: wrong number of args for FormatTime: want 1 got 0"
        );
        let e = render("{{ .ShellEscape 1 }}", &v).unwrap_err().to_string();
        assert_eq!(
            e,
            "template:1:4: error calling ShellEscape: wrong type for value; expected string; got int"
        );
        assert_eq!(
            render("{{ .Summary 1 }}", &v).unwrap_err().message(),
            "error calling Summary: wrong number of args for Summary: want 0 got 1"
        );
    }
}
