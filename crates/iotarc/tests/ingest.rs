//! Tests of the input side of `iotarc pack` (`iotarc::input`): every format's happy path,
//! missing values, timestamps, value typing, forced types, compressed inputs, line endings,
//! rejected lines with their reasons and line numbers, and chunking.

use iotarc::input::{
    open_input, parse_bytes, Batch, Chunker, Format, ParseOptions, Parser, TimeUnit, Tz, Val,
};
use iotarc::{Value, ValueType};
use proptest::prelude::*;
use std::io::{Read, Write};

fn opts() -> ParseOptions {
    ParseOptions::default()
}

fn parse(o: &ParseOptions, path: &str, data: &str) -> Batch {
    parse_bytes(o, Some(path), data.as_bytes()).unwrap()
}

/// (line, ts, device, channel, value) of every row.
type Point = (u64, i64, String, String, Option<Value>);

fn points(b: &Batch) -> Vec<Point> {
    b.rows
        .iter()
        .map(|r| {
            (
                r.line,
                r.ts,
                b.device(r).to_owned(),
                b.channel(r).to_owned(),
                b.value(r),
            )
        })
        .collect()
}

fn p(line: u64, ts: i64, d: &str, c: &str, v: Option<Value>) -> Point {
    (line, ts, d.into(), c.into(), v)
}

fn f(v: f64) -> Option<Value> {
    Some(Value::F64(v))
}

fn i(v: i64) -> Option<Value> {
    Some(Value::I64(v))
}

fn s(v: &str) -> Option<Value> {
    Some(Value::Str(v.into()))
}

const T0: i64 = 1_704_067_200_000_000; // 2024-01-01T00:00:00Z

/// (line, reason) of every error.
fn errors(b: &Batch) -> Vec<(u64, String)> {
    b.errors
        .iter()
        .map(|e| (e.line, e.reason.clone()))
        .collect()
}

// ---------------------------------------------------------------- happy paths

#[test]
fn csv_long_happy_path() {
    let b = parse(
        &opts(),
        "x.csv",
        "timestamp,device,channel,value\n\
         2024-01-01T00:00:00Z,s1,temp,21.5\n\
         2024-01-01T00:00:01Z,s1,count,7\n\
         2024-01-01T00:00:02Z,s2,state,ok\n\
         2024-01-01T00:00:03Z,s2,on,true\n",
    );
    assert!(b.errors.is_empty());
    assert_eq!(
        points(&b),
        [
            p(2, T0, "s1", "temp", f(21.5)),
            p(3, T0 + 1_000_000, "s1", "count", i(7)),
            p(4, T0 + 2_000_000, "s2", "state", s("ok")),
            p(5, T0 + 3_000_000, "s2", "on", Some(Value::Bool(true))),
        ]
    );
    assert_eq!(b.devices, ["s1", "s2"]);
    assert_eq!(b.lines, 4);
}

#[test]
fn csv_long_custom_columns_any_order_extra_ignored() {
    let o = ParseOptions {
        time_col: "time".into(),
        device_col: "sensor".into(),
        channel_col: "metric".into(),
        value_col: "reading".into(),
        ..opts()
    };
    let b = parse(
        &o,
        "x.csv",
        "note,reading,metric,time,sensor\nhello,1.5,t,2024-01-01 00:00:00,a\n",
    );
    assert_eq!(points(&b), [p(2, T0, "a", "t", f(1.5))]);
    // The header decides long vs wide: with "metric" absent it is wide.
    let b = parse(&o, "x.csv", "time,sensor,t,h\n2024-01-01 00:00:00,a,1,2\n");
    assert_eq!(
        points(&b),
        [p(2, T0, "a", "t", i(1)), p(2, T0, "a", "h", i(2))]
    );
}

#[test]
fn csv_wide_happy_path() {
    let b = parse(
        &opts(),
        "x.csv",
        "device,timestamp,temp,rh,status\n\
         boiler,2024-01-01T00:00:00Z,21.5,40,ok\n\
         boiler,2024-01-01T00:00:01Z,,NA,null\n",
    );
    assert!(b.errors.is_empty());
    assert_eq!(
        points(&b),
        [
            p(2, T0, "boiler", "temp", f(21.5)),
            p(2, T0, "boiler", "rh", i(40)),
            p(2, T0, "boiler", "status", s("ok")),
            p(3, T0 + 1_000_000, "boiler", "temp", None),
            p(3, T0 + 1_000_000, "boiler", "rh", None),
            p(3, T0 + 1_000_000, "boiler", "status", None),
        ]
    );
}

#[test]
fn csv_quoted_fields() {
    let b = parse(
        &opts(),
        "x.csv",
        "\"timestamp\",\"device\",\"channel\",\"value\"\n\
         2024-01-01T00:00:00Z,\"dev, one\",msg,\"say \"\"hi\"\"\"\n\
         2024-01-01T00:00:00Z,d,msg,\"\"\n",
    );
    assert_eq!(
        points(&b),
        [
            p(2, T0, "dev, one", "msg", s("say \"hi\"")),
            p(3, T0, "d", "msg", None),
        ]
    );
}

#[test]
fn jsonl_long_and_wide() {
    let b = parse(
        &opts(),
        "x.jsonl",
        r#"{"timestamp":"2024-01-01T00:00:00Z","device":"a","channel":"temp","value":21.5,"extra":[1]}
{"device":"a","timestamp":"2024-01-01T00:00:01Z","temp":22,"on":false,"state":"ok","rh":null}
{"timestamp":"2024-01-01T00:00:02Z","device":"a\u00e9","channel":"t\"q","value":"x\ny"}
"#,
    );
    assert!(b.errors.is_empty(), "{:?}", b.errors);
    assert_eq!(
        points(&b),
        [
            p(1, T0, "a", "temp", f(21.5)),
            p(2, T0 + 1_000_000, "a", "temp", i(22)),
            p(2, T0 + 1_000_000, "a", "on", Some(Value::Bool(false))),
            p(2, T0 + 1_000_000, "a", "state", s("ok")),
            p(2, T0 + 1_000_000, "a", "rh", None),
            p(3, T0 + 2_000_000, "aé", "t\"q", s("x\ny")),
        ]
    );
}

#[test]
fn jsonl_numbers_are_exact() {
    // Numbers are typed from their text, like CSV cells.
    let b = parse(
        &opts(),
        "x.ndjson",
        r#"{"timestamp":"2024-01-01T00:00:00Z","device":7,"a":9007199254740993,"b":0.1,"c":-0.0,"d":1e308,"e":18446744073709551616,"f":"12"}"#,
    );
    assert!(b.errors.is_empty(), "{:?}", b.errors);
    let v: Vec<_> = b.rows.iter().map(|r| r.value).collect();
    assert_eq!(b.devices, ["7"]);
    assert_eq!(v[0], Val::I64(9_007_199_254_740_993));
    assert_eq!(v[1], Val::F64(0.1));
    assert_eq!(v[2], Val::F64(-0.0));
    assert_eq!(v[3], Val::F64(1e308));
    assert_eq!(v[4], Val::F64(18_446_744_073_709_551_616.0));
    assert_eq!(b.value(&b.rows[5]), s("12")); // a JSON string stays a string
}

#[test]
fn line_protocol_happy_path() {
    let b = parse(
        &opts(),
        "x.lp",
        "# comment\n\
         env,site=x,device=d1 temp=21.5,n=3i,big=5u,msg=\"hello, world\",on=t,off=FALSE 1700000000000000000\n\
         \n\
         env,device=d2 temp=-1e3 1700000000000001999\n",
    );
    assert!(b.errors.is_empty(), "{:?}", b.errors);
    let t = 1_700_000_000_000_000;
    assert_eq!(
        points(&b),
        [
            p(2, t, "d1", "env.temp", f(21.5)),
            p(2, t, "d1", "env.n", i(3)),
            p(2, t, "d1", "env.big", i(5)),
            p(2, t, "d1", "env.msg", s("hello, world")),
            p(2, t, "d1", "env.on", Some(Value::Bool(true))),
            p(2, t, "d1", "env.off", Some(Value::Bool(false))),
            p(4, t + 1, "d2", "env.temp", f(-1000.0)),
        ]
    );
}

#[test]
fn line_protocol_bare_number_is_float_and_units() {
    let o = ParseOptions {
        time_unit: Some(TimeUnit::S),
        device_tag: "host".into(),
        ..opts()
    };
    let b = parse(&o, "x.txt", "cpu,host=h1 load=1 1700000000\n");
    assert_eq!(
        points(&b),
        [p(1, 1_700_000_000_000_000, "h1", "cpu.load", f(1.0))]
    );
}

// ---------------------------------------------------------------- missing values

#[test]
fn missing_value_spellings() {
    let b = parse(
        &opts(),
        "x.csv",
        "timestamp,device,a,b,c,d,e,f,g,h\n2024-01-01T00:00:00Z,d,,NA,null,NULL,N/A,NaN,na,0\n",
    );
    let v: Vec<_> = b.rows.iter().map(|r| r.value).collect();
    assert_eq!(v[..5], [Val::Missing; 5]);
    assert!(matches!(v[5], Val::F64(x) if x.is_nan()));
    assert_eq!(b.value(&b.rows[6]), s("na"));
    assert_eq!(v[7], Val::I64(0)); // zero is a value, never "missing"
                                   // Missing stays missing under a forced type.
    let o = ParseOptions {
        types: [("a".to_string(), ValueType::I64)].into(),
        ..opts()
    };
    let b = parse(
        &o,
        "x.csv",
        "timestamp,device,a\n2024-01-01T00:00:00Z,d,NA\n",
    );
    assert_eq!(b.rows[0].value, Val::Missing);
}

// ---------------------------------------------------------------- timestamps

fn ts_of(o: &ParseOptions, text: &str) -> Result<i64, String> {
    let b = parse(
        o,
        "x.csv",
        &format!("timestamp,device,channel,value\n{text},d,c,1\n"),
    );
    match (b.rows.first(), b.errors.first()) {
        (Some(r), None) => Ok(r.ts),
        (None, Some(e)) => Err(e.reason.clone()),
        _ => unreachable!(),
    }
}

#[test]
fn timestamp_syntaxes() {
    let o = opts();
    let base = T0 + 3 * 3_600_000_000 + 4 * 60_000_000 + 5_000_000; // 2024-01-01T03:04:05Z
    for (text, want) in [
        ("2024-01-01T03:04:05Z", base),
        ("2024-01-01t03:04:05z", base),
        ("2024-01-01 03:04:05", base),
        ("2024-01-01T03:04:05", base),
        ("2024-01-01T03:04:05.123456Z", base + 123_456),
        ("2024-01-01T03:04:05.1Z", base + 100_000),
        ("\"2024-01-01T03:04:05,5Z\"", base + 500_000),
        ("2024-01-01T03:04:05.123456789Z", base + 123_456), // floored
        ("2024-01-01T08:34:05+05:30", base),
        ("2024-01-01T08:34:05.000001+0530", base + 1),
        ("2023-12-31T23:04:05-04:00", base),
        ("1969-12-31T23:59:59.9999999Z", -1),
    ] {
        assert_eq!(ts_of(&o, text), Ok(want), "{text}");
    }
}

#[test]
fn timestamp_fixed_and_named_zones() {
    let plus2 = ParseOptions {
        tz: "+02:00".parse().unwrap(),
        ..opts()
    };
    assert_eq!(ts_of(&plus2, "2024-01-01 02:00:00"), Ok(T0));
    // An explicit offset wins over the option.
    assert_eq!(ts_of(&plus2, "2024-01-01T00:00:00Z"), Ok(T0));

    let berlin = ParseOptions {
        tz: "Europe/Berlin".parse().unwrap(),
        ..opts()
    };
    let utc = |t: &str| ts_of(&opts(), t).unwrap();
    assert_eq!(
        ts_of(&berlin, "2024-03-31 01:59:59"),
        Ok(utc("2024-03-31T00:59:59Z"))
    );
    assert_eq!(
        ts_of(&berlin, "2024-03-31 03:00:00"),
        Ok(utc("2024-03-31T01:00:00Z"))
    );
    let gap = ts_of(&berlin, "2024-03-31 02:30:00").unwrap_err();
    assert!(gap.contains("does not exist in Europe/Berlin"), "{gap}");
    // 02:30 happens twice on 2024-10-27: the earlier instant (still +02:00) is chosen.
    assert_eq!(
        ts_of(&berlin, "2024-10-27 02:30:00"),
        Ok(utc("2024-10-27T00:30:00Z"))
    );
    assert_eq!(
        ts_of(&berlin, "2024-10-27 03:30:00"),
        Ok(utc("2024-10-27T02:30:00Z"))
    );

    assert!("Mars/Olympus".parse::<Tz>().is_err());
    assert!("+25:00".parse::<Tz>().is_err());
    assert!(matches!("-0130".parse::<Tz>(), Ok(Tz::Fixed(-5400))));
    assert!(matches!("UTC".parse::<Tz>(), Ok(Tz::Utc)));
}

#[test]
fn timestamp_epoch_units() {
    let with = |u| ParseOptions {
        time_unit: Some(u),
        ..opts()
    };
    assert_eq!(
        ts_of(&with(TimeUnit::S), "1700000000"),
        Ok(1_700_000_000_000_000)
    );
    assert_eq!(
        ts_of(&with(TimeUnit::S), "1700000000.123456"),
        Ok(1_700_000_000_123_456)
    );
    // Exact, not through f64 (1700000000.000001 is not representable in f64).
    assert_eq!(
        ts_of(&with(TimeUnit::S), "1700000000.000001"),
        Ok(1_700_000_000_000_001)
    );
    assert_eq!(
        ts_of(&with(TimeUnit::Ms), "1700000000123.456"),
        Ok(1_700_000_000_123_456)
    );
    assert_eq!(
        ts_of(&with(TimeUnit::Us), "1700000000123456"),
        Ok(1_700_000_000_123_456)
    );
    assert_eq!(
        ts_of(&with(TimeUnit::Ns), "1700000000123456789"),
        Ok(1_700_000_000_123_456)
    );
    assert_eq!(ts_of(&with(TimeUnit::Ns), "-1"), Ok(-1)); // floor
    assert_eq!(ts_of(&with(TimeUnit::S), "-0.0000001"), Ok(-1)); // floor
    assert_eq!(
        ts_of(&with(TimeUnit::Us), "-9223372036854775808"),
        Ok(i64::MIN)
    );
    assert!(ts_of(&with(TimeUnit::Us), "9223372036854775808")
        .unwrap_err()
        .contains("out of range"));
    assert!(ts_of(&with(TimeUnit::S), "9300000000000")
        .unwrap_err()
        .contains("out of range"));
    // Date-times still work when a unit is set.
    assert_eq!(ts_of(&with(TimeUnit::S), "2024-01-01T00:00:00Z"), Ok(T0));
    assert_eq!(
        ts_of(&opts(), "1700000000").unwrap_err(),
        r#"bad timestamp "1700000000": numeric timestamp needs --time-unit (s, ms, us or ns)"#
    );
}

// ---------------------------------------------------------------- value typing

#[test]
fn value_typing() {
    let b = parse(
        &opts(),
        "x.csv",
        "timestamp,device,channel,value\n\
         2024-01-01T00:00:00Z,d,c,-0.0\n\
         2024-01-01T00:00:00Z,d,c,NaN\n\
         2024-01-01T00:00:00Z,d,c,1e308\n\
         2024-01-01T00:00:00Z,d,c,9223372036854775807\n\
         2024-01-01T00:00:00Z,d,c,-9223372036854775808\n\
         2024-01-01T00:00:00Z,d,c,9223372036854775808\n\
         2024-01-01T00:00:00Z,d,c,-inf\n\
         2024-01-01T00:00:00Z,d,c,Infinity\n\
         2024-01-01T00:00:00Z,d,c,0.30000000000000004\n\
         2024-01-01T00:00:00Z,d,c,false\n\
         2024-01-01T00:00:00Z,d,c,1.2.3\n\
         2024-01-01T00:00:00Z,d,c,-0\n",
    );
    let v: Vec<_> = b.rows.iter().map(|r| r.value).collect();
    assert_eq!(v[0], Val::F64(-0.0));
    assert_ne!(v[0], Val::F64(0.0));
    assert!(matches!(v[1], Val::F64(x) if x.is_nan()));
    assert_eq!(v[2], Val::F64(1e308));
    assert_eq!(v[3], Val::I64(i64::MAX));
    assert_eq!(v[4], Val::I64(i64::MIN));
    assert_eq!(v[5], Val::F64(9_223_372_036_854_775_808.0)); // too large for i64
    assert_eq!(v[6], Val::F64(f64::NEG_INFINITY));
    assert_eq!(v[7], Val::F64(f64::INFINITY));
    assert_eq!(v[8], Val::F64(0.1 + 0.2));
    assert_eq!(v[9], Val::Bool(false));
    assert_eq!(b.value(&b.rows[10]), s("1.2.3"));
    assert_eq!(v[11], Val::I64(0));
}

#[test]
fn forced_types() {
    let o = ParseOptions {
        types: [
            ("count".to_string(), ValueType::F64),
            ("status".to_string(), ValueType::Str),
            ("n".to_string(), ValueType::I64),
            ("on".to_string(), ValueType::Bool),
        ]
        .into(),
        ..opts()
    };
    let b = parse(
        &o,
        "x.csv",
        "timestamp,device,count,status,n,on\n\
         2024-01-01T00:00:00Z,d,3,200,-4,1\n\
         2024-01-01T00:00:00Z,d,3.5,ok,5,false\n\
         2024-01-01T00:00:00Z,d,1,x,1.5,true\n\
         2024-01-01T00:00:00Z,d,x,x,1,true\n\
         2024-01-01T00:00:00Z,d,1,x,1,yes\n",
    );
    let v: Vec<_> = b.rows.iter().map(|r| r.value).collect();
    assert_eq!(v[0], Val::F64(3.0));
    assert_eq!(b.value(&b.rows[1]), s("200"));
    assert_eq!(v[2], Val::I64(-4));
    assert_eq!(v[3], Val::Bool(true));
    assert_eq!(v[4], Val::F64(3.5));
    assert_eq!(v[7], Val::Bool(false));
    assert_eq!(b.rows.len(), 8);
    assert_eq!(
        errors(&b),
        [
            (
                4,
                r#"channel "n": "1.5" is not an integer (channel type i64)"#.to_string()
            ),
            (
                5,
                r#"channel "count": "x" is not a number (channel type f64)"#.to_string()
            ),
            (
                6,
                r#"channel "on": "yes" is not a boolean (channel type bool: true/false/1/0)"#
                    .to_string()
            ),
        ]
    );
    // Line protocol and JSON honour forced types too.
    let o = ParseOptions {
        types: [
            ("m.a".to_string(), ValueType::I64),
            ("m.b".to_string(), ValueType::F64),
            ("x".to_string(), ValueType::F64),
        ]
        .into(),
        ..opts()
    };
    let b = parse(&o, "x.lp", "m,device=d a=2,b=3i 1\nm,device=d a=2.5 1\n");
    assert_eq!(b.rows[0].value, Val::I64(2));
    assert_eq!(b.rows[1].value, Val::F64(3.0));
    assert_eq!(errors(&b)[0].0, 2);
    let b = parse(
        &o,
        "x.jsonl",
        r#"{"timestamp":"2024-01-01T00:00:00Z","device":"d","x":"2.5"}"#,
    );
    assert_eq!(b.rows[0].value, Val::F64(2.5));
}

// ---------------------------------------------------------------- inputs

#[test]
fn gzip_and_zstd_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let text =
        "timestamp,device,channel,value\n2024-01-01T00:00:00Z,a,t,1\n2024-01-01T00:00:01Z,a,t,2\n";
    // Gzip with two members (as `cat a.gz b.gz` makes).
    let gz = dir.path().join("in.csv.gz");
    let mut bytes = Vec::new();
    for part in [&text[..40], &text[40..]] {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(part.as_bytes()).unwrap();
        bytes.extend(e.finish().unwrap());
    }
    std::fs::write(&gz, bytes).unwrap();
    let zst = dir.path().join("in.csv.zst");
    std::fs::write(&zst, zstd::encode_all(text.as_bytes(), 3).unwrap()).unwrap();
    for path in [&gz, &zst] {
        let path = path.to_str().unwrap();
        let mut got = String::new();
        open_input(path).unwrap().read_to_string(&mut got).unwrap();
        assert_eq!(got, text, "{path}");
        let mut c = Chunker::with_chunk_size(open_input(path).unwrap(), 16);
        let parser = Parser::from_input(&opts(), Some(path), &mut c).unwrap();
        assert_eq!(parser.format(), Format::CsvLong);
        let mut b = Batch::default();
        for chunk in c {
            let chunk = chunk.unwrap();
            b.append(parser.parse_chunk(&chunk.bytes, chunk.first_line));
        }
        assert_eq!(
            points(&b),
            [
                p(2, T0, "a", "t", i(1)),
                p(3, T0 + 1_000_000, "a", "t", i(2))
            ]
        );
    }
    // Errors name the path.
    let e = open_input("/nonexistent/dir/in.csv").err().unwrap();
    assert!(e.to_string().contains("/nonexistent/dir/in.csv"), "{e}");
    let fake = dir.path().join("fake.gz");
    std::fs::write(&fake, "not gzip").unwrap();
    let e = open_input(fake.to_str().unwrap()).err().unwrap();
    assert!(e.to_string().contains("fake.gz"), "{e}");
    // A truncated gzip stream fails while reading, naming the path.
    let cut = dir.path().join("cut.csv.gz");
    let full = std::fs::read(&gz).unwrap();
    std::fs::write(&cut, &full[..full.len() / 2]).unwrap();
    let mut sink = Vec::new();
    let e = open_input(cut.to_str().unwrap())
        .unwrap()
        .read_to_end(&mut sink)
        .unwrap_err();
    assert!(e.to_string().contains("cut.csv.gz"), "{e}");
}

#[test]
fn crlf_bom_and_missing_final_newline() {
    let data = "\u{feff}timestamp,device,channel,value\r\n2024-01-01T00:00:00Z,a,t,1\r\n\r\n2024-01-01T00:00:01Z,a,t,x\r\n2024-01-01T00:00:02Z,a,t,3";
    for path in ["x.csv", "-"] {
        let b = parse(&opts(), path, data);
        assert!(b.errors.is_empty());
        assert_eq!(
            points(&b),
            [
                p(2, T0, "a", "t", i(1)),
                p(4, T0 + 1_000_000, "a", "t", s("x")),
                p(5, T0 + 2_000_000, "a", "t", i(3)),
            ]
        );
    }
    // The same for JSON Lines and line protocol (BOM handled by parse_chunk directly too).
    let p1 = Parser::new(&opts(), Format::Jsonl, None).unwrap();
    let b = p1.parse_chunk(
        "\u{feff}{\"timestamp\":\"2024-01-01T00:00:00Z\",\"device\":\"a\",\"t\":1}\r\n".as_bytes(),
        1,
    );
    assert_eq!(points(&b), [p(1, T0, "a", "t", i(1))]);
    let p2 = Parser::new(&opts(), Format::LineProtocol, None).unwrap();
    let b = p2.parse_chunk(b"m,device=a t=1 5000\r\nm,device=a t=2 6000", 1);
    assert_eq!(b.rows.len(), 2);
    assert_eq!(b.rows[1].ts, 6);
}

#[test]
fn format_detection() {
    let o = opts();
    let detect = |path: Option<&str>, data: &str| {
        let mut c = Chunker::new(data.as_bytes());
        Parser::from_input(&o, path, &mut c).map(|p| p.format())
    };
    assert_eq!(
        detect(Some("a.CSV"), "timestamp,device,channel,value\n").unwrap(),
        Format::CsvLong
    );
    assert_eq!(
        detect(Some("a.csv.zst"), "timestamp,device,t\n").unwrap(),
        Format::CsvWide
    );
    assert_eq!(detect(Some("a.ndjson.gz"), "").unwrap(), Format::Jsonl);
    assert_eq!(detect(Some("a.jsonl"), "").unwrap(), Format::Jsonl);
    assert_eq!(detect(Some("a.lp"), "").unwrap(), Format::LineProtocol);
    assert_eq!(detect(Some("a.txt"), "").unwrap(), Format::LineProtocol);
    assert_eq!(detect(None, "\n# c\n{\"a\":1}\n").unwrap(), Format::Jsonl);
    assert_eq!(
        detect(Some("-"), "m,device=a x=1 1\n").unwrap(),
        Format::LineProtocol
    );
    assert_eq!(
        detect(Some("data"), "timestamp,device,channel,value\n").unwrap(),
        Format::CsvLong
    );
    assert!(detect(None, "").is_err());
    assert!(detect(Some("a.csv"), "# nothing\n").is_err());
    // An explicit format wins, and header problems carry the header's line number.
    let wide = ParseOptions {
        format: Some(Format::CsvLong),
        ..opts()
    };
    let mut c = Chunker::new(&b"# c\ntimestamp,device,t\n"[..]);
    let e = Parser::from_input(&wide, Some("a.csv"), &mut c).unwrap_err();
    assert!(
        matches!(
            e.kind(),
            iotarc::ErrorKind::InvalidInput { line: Some(2), what } if what.contains("no channel column \"channel\"")
        ),
        "{e}"
    );
    for (header, want) in [
        ("ts,device,channel,value", "no time column \"timestamp\""),
        ("timestamp,channel,value", "no device column"),
        ("timestamp,device,t,t", "duplicate column \"t\""),
        ("timestamp,device,,t", "column 3 has an empty name"),
        ("timestamp,device", "no channel columns"),
    ] {
        let e = Parser::new(&opts(), Format::CsvWide, Some(header.as_bytes())).unwrap_err();
        assert!(e.to_string().contains(want), "{header}: {e}");
    }
    assert_eq!("lp".parse::<Format>().unwrap(), Format::LineProtocol);
    assert_eq!("ns".parse::<TimeUnit>().unwrap(), TimeUnit::Ns);
    assert!("minutes".parse::<TimeUnit>().is_err());
}

// ---------------------------------------------------------------- bad rows

#[test]
fn bad_rows_have_reasons_and_line_numbers() {
    let o = opts();
    let csv = "timestamp,device,channel,value\n";
    let cases: &[(&str, &str, &str)] = &[
        (
            "x.csv",
            "2024-13-01T00:00:00Z,d,c,1",
            r#"bad timestamp "2024-13-01T00:00:00Z": month 13 out of range"#,
        ),
        (
            "x.csv",
            "2024-02-30T00:00:00Z,d,c,1",
            r#"bad timestamp "2024-02-30T00:00:00Z": day 30 out of range for 2024-02 (1..=29)"#,
        ),
        (
            "x.csv",
            "yesterday,d,c,1",
            r#"bad timestamp "yesterday": not a timestamp"#,
        ),
        ("x.csv", ",d,c,1", r#"bad timestamp "": empty timestamp"#),
        (
            "x.csv",
            "2024-01-01T00:00:00Z,d,c",
            "3 fields, but the header has 4",
        ),
        (
            "x.csv",
            "2024-01-01T00:00:00Z,d,c,1,2",
            "5 fields, but the header has 4",
        ),
        ("x.csv", "2024-01-01T00:00:00Z,,c,1", "empty device name"),
        ("x.csv", "2024-01-01T00:00:00Z,d,,1", "empty channel name"),
        (
            "x.csv",
            "2024-01-01T00:00:00Z,d,c,\"multi",
            "unterminated quoted field 4 (a quoted field cannot span lines)",
        ),
        (
            "x.csv",
            "2024-01-01T00:00:00Z,d\u{0},c,\"a\"b",
            "unexpected \"b\" after the closing quote of field 4",
        ),
        (
            "x.jsonl",
            "[1,2]",
            "invalid JSON: invalid type: sequence, expected a JSON object",
        ),
        (
            "x.jsonl",
            "{\"timestamp\":1",
            "invalid JSON at column 14: EOF while parsing an object",
        ),
        (
            "x.jsonl",
            "{} {}",
            "invalid JSON at column 4: trailing characters",
        ),
        (
            "x.jsonl",
            "{\"device\":\"d\",\"t\":1}",
            "missing key \"timestamp\"",
        ),
        (
            "x.jsonl",
            "{\"timestamp\":\"2024-01-01T00:00:00Z\",\"t\":1}",
            "missing key \"device\"",
        ),
        (
            "x.jsonl",
            "{\"timestamp\":\"2024-01-01T00:00:00Z\",\"device\":\"d\",\"channel\":\"c\"}",
            "missing key \"value\"",
        ),
        (
            "x.jsonl",
            "{\"timestamp\":\"2024-01-01T00:00:00Z\",\"device\":\"d\"}",
            "no channel keys besides \"timestamp\" and \"device\"",
        ),
        (
            "x.jsonl",
            "{\"timestamp\":\"2024-01-01T00:00:00Z\",\"device\":\"d\",\"t\":{\"x\":1}}",
            "channel \"t\": value is an object; only scalar values are supported",
        ),
        (
            "x.jsonl",
            "{\"timestamp\":\"2024-01-01T00:00:00Z\",\"device\":\"d\",\"t\":1,\"t\":2}",
            "duplicate key \"t\"",
        ),
        (
            "x.jsonl",
            "{\"timestamp\":true,\"device\":\"d\",\"t\":1}",
            "bad timestamp \"true\": expected a string or a number",
        ),
        (
            "x.jsonl",
            "{\"timestamp\":1700000000,\"device\":\"d\",\"t\":1}",
            "bad timestamp \"1700000000\": numeric timestamp needs --time-unit (s, ms, us or ns)",
        ),
        (
            "x.lp",
            "m,device=d t=1",
            "missing timestamp (iotarc never uses the wall clock; give every line a timestamp)",
        ),
        ("x.lp", "m,host=h t=1 1", "no device tag \"device\""),
        (
            "x.lp",
            "m,device=d t=9223372036854775808u 1",
            "field \"m.t\": unsigned integer 9223372036854775808u does not fit in i64",
        ),
        (
            "x.lp",
            "m,device=d t=abc 1",
            "field \"m.t\": \"abc\" is not a number",
        ),
        (
            "x.lp",
            "m,device=d t=1 99999999999999999999999999",
            "bad timestamp \"99999999999999999999999999\": out of range for i64 microseconds",
        ),
    ];
    for (path, bad, want) in cases {
        let header = if path.ends_with("csv") { csv } else { "" };
        let good = match *path {
            "x.csv" => "2024-01-01T00:00:00Z,d,c,1",
            "x.jsonl" => "{\"timestamp\":\"2024-01-01T00:00:00Z\",\"device\":\"d\",\"c\":1}",
            _ => "m,device=d c=1 1",
        };
        // Bad line between good lines, after a comment and a blank line.
        let data = format!("{header}# c\n\n{good}\n{bad}\n{good}\n");
        let first = if header.is_empty() { 1 } else { 2 };
        let b = parse(&o, path, &data);
        let errs = errors(&b);
        assert_eq!(errs.len(), 1, "{path}: {bad:?}: {errs:?}");
        assert_eq!(errs[0].0, first + 3, "{path}: {bad:?}");
        assert!(
            errs[0].1.starts_with(want),
            "{path}: {bad:?}: {:?} does not start with {want:?}",
            errs[0].1
        );
        assert_eq!(b.errors[0].text, *bad);
        assert_eq!(b.rows.len(), 2, "{path}: {bad:?}");
        assert_eq!(b.rows[1].line, first + 4);
    }
}

#[test]
fn rejected_line_leaves_no_trace() {
    // A wide line with one bad cell yields no rows at all, and names introduced only by
    // rejected lines do not appear in the dictionaries.
    let o = ParseOptions {
        types: [("b".to_string(), ValueType::I64)].into(),
        ..opts()
    };
    let b = parse(
        &o,
        "x.csv",
        "timestamp,device,a,b\n2024-01-01T00:00:00Z,ghost,str,1.5\n2024-01-01T00:00:00Z,real,1,2\n",
    );
    assert_eq!(b.devices, ["real"]);
    assert!(b.strings.is_empty());
    assert_eq!(b.rows.len(), 2);
    assert_eq!(b.errors[0].line, 2);
    let b = parse(
        &opts(),
        "x.lp",
        "m,device=ghost a=\"s\",b=x 1\nm,device=real a=1 1\n",
    );
    assert_eq!(b.devices, ["real"]);
    assert_eq!(b.channels, ["m.a"]);
    assert!(b.strings.is_empty());
}

#[test]
fn invalid_utf8_and_garbage_never_panic() {
    let parsers = [
        Parser::new(
            &opts(),
            Format::CsvLong,
            Some(b"timestamp,device,channel,value"),
        )
        .unwrap(),
        Parser::new(&opts(), Format::CsvWide, Some(b"timestamp,device,a")).unwrap(),
        Parser::new(&opts(), Format::Jsonl, None).unwrap(),
        Parser::new(&opts(), Format::LineProtocol, None).unwrap(),
    ];
    let b = parsers[0].parse_chunk(
        b"2024-01-01T00:00:00Z,d\xff,c,1\n2024-01-01T00:00:00Z,d,c,\xfe\n",
        7,
    );
    assert_eq!(
        errors(&b),
        [
            (7, "device \"d\u{fffd}\" is not valid UTF-8".to_string()),
            (
                8,
                "channel \"c\": invalid UTF-8 at byte 1 of \"\u{fffd}\"".to_string()
            ),
        ]
    );
    let b = parsers[3].parse_chunk(b"m,device=d s=\"\xff\" 1\n", 1);
    assert!(
        b.errors[0].reason.contains("not valid UTF-8"),
        "{:?}",
        b.errors
    );
    let b = parsers[2].parse_chunk(b"{\"timestamp\":\"\xff\"}\n", 1);
    assert!(
        b.errors[0].reason.starts_with("invalid JSON"),
        "{:?}",
        b.errors
    );
    // Deterministic pseudo-random garbage.
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut data = Vec::new();
    for _ in 0..200_000 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let alphabet = b"0123456789-:.TZ+, \"\\={}[]\nabcdeitu\xff\xc3\r#";
        data.push(alphabet[(x % alphabet.len() as u64) as usize]);
    }
    for p in &parsers {
        let b = p.parse_chunk(&data, 1);
        assert_eq!(
            b.lines as usize,
            data.iter().filter(|&&c| c == b'\n').count() + 1
        );
    }
}

#[test]
fn long_error_text_is_truncated() {
    let long = format!("2024-01-01T00:00:00Z,d,c,\"{}", "x".repeat(1000));
    let b = parse(
        &opts(),
        "x.csv",
        &format!("timestamp,device,channel,value\n{long}\n"),
    );
    assert_eq!(b.errors[0].text.len(), 203);
    assert!(b.errors[0].text.ends_with("..."));
}

// ---------------------------------------------------------------- chunking

/// Parses `data` in chunks of `size` bytes with a fresh Chunker and concatenates.
fn parse_chunked(o: &ParseOptions, path: &str, data: &[u8], size: usize) -> Batch {
    let mut c = Chunker::with_chunk_size(data, size);
    let parser = Parser::from_input(o, Some(path), &mut c).unwrap();
    let mut out = Batch::default();
    for chunk in c {
        let chunk = chunk.unwrap();
        out.append(parser.parse_chunk(&chunk.bytes, chunk.first_line));
    }
    out
}

fn line_strategy() -> impl Strategy<Value = String> {
    prop_oneof![
        (
            0u32..3,
            0i64..100_000,
            prop_oneof![Just("1.5"), Just("7"), Just("NA"), Just("x"), Just("")]
        )
            .prop_map(|(d, t, v)| format!("{},dev{d},ch{},{v}", 1_700_000_000 + t, t % 3)),
        Just(String::new()),
        Just("# comment".to_string()),
        Just("garbage".to_string()),
        Just("1700000000,d,\"unterminated".to_string()),
        "[ -~]{0,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn chunk_boundaries_never_split_or_drop_lines(
        lines in prop::collection::vec(line_strategy(), 0..60),
        crlf in any::<bool>(),
        final_newline in any::<bool>(),
        size in 1usize..200,
    ) {
        let o = ParseOptions { time_unit: Some(TimeUnit::S), ..opts() };
        let eol = if crlf { "\r\n" } else { "\n" };
        let mut data = format!("timestamp,device,channel,value{eol}");
        data.push_str(&lines.join(eol));
        if final_newline && !lines.is_empty() {
            data.push_str(eol);
        }
        let whole = parse_bytes(&o, Some("x.csv"), data.as_bytes()).unwrap();
        let chunked = parse_chunked(&o, "x.csv", data.as_bytes(), size);
        prop_assert_eq!(points(&whole), points(&chunked));
        prop_assert_eq!(&whole.errors, &chunked.errors);
        prop_assert_eq!(whole.lines, chunked.lines);
        // Every physical line is accounted for: rows, errors, or skipped.
        let total = data.split(eol).count() as u64 - u64::from(data.ends_with(eol));
        prop_assert_eq!(chunked.lines + 1, total.max(1));
    }

    #[test]
    fn line_protocol_chunking(
        vals in prop::collection::vec((0u8..4, -1000i64..1000), 1..40),
        size in 1usize..120,
    ) {
        let data: String = vals
            .iter()
            .map(|(d, v)| format!("m,device=d{d} a={v}i,b={v}.5 {}\n", 1_700_000_000_000_000_000i64 + v))
            .collect();
        let whole = parse_bytes(&opts(), Some("x.lp"), data.as_bytes()).unwrap();
        let chunked = parse_chunked(&opts(), "x.lp", data.as_bytes(), size);
        prop_assert_eq!(whole.rows.len(), vals.len() * 2);
        prop_assert_eq!(points(&whole), points(&chunked));
    }
}

// ---------------------------------------------------------------- fuzz regressions

/// Options of the `parse_*` fuzz targets, from their flag byte.
fn fuzz_options(flags: u8, format: Option<Format>, lp: bool) -> ParseOptions {
    let unit3 = if lp { TimeUnit::Us } else { TimeUnit::Ms };
    let units = [None, Some(TimeUnit::S), Some(unit3), Some(TimeUnit::Ns)];
    let prefix = if lp { "m." } else { "" };
    let types = [
        ("a", ValueType::I64),
        ("b", ValueType::F64),
        ("c", ValueType::Bool),
        ("d", ValueType::Str),
    ];
    ParseOptions {
        format,
        time_unit: units[(flags >> 1 & 3) as usize],
        tz: match flags >> 3 & 3 {
            0 => Tz::Utc,
            1 => Tz::Fixed(-3600),
            _ => "Europe/Berlin".parse().unwrap(),
        },
        types: if flags & 0x20 != 0 {
            types
                .iter()
                .map(|&(n, t)| (format!("{prefix}{n}"), t))
                .collect()
        } else {
            Default::default()
        },
        device_tag: if lp && flags & 1 != 0 {
            "host"
        } else {
            "device"
        }
        .into(),
        ..opts()
    }
}

/// Parses like the fuzz targets: through a Chunker of `size`, or `None` on an error.
fn fuzz_parse(o: &ParseOptions, data: &[u8], size: usize) -> Option<Batch> {
    let mut chunks = Chunker::with_chunk_size(data, size);
    let parser = Parser::from_input(o, None, &mut chunks).ok()?;
    let mut out = Batch::default();
    for chunk in chunks {
        let chunk = chunk.ok()?;
        out.append(parser.parse_chunk(&chunk.bytes, chunk.first_line));
    }
    Some(out)
}

/// Replays `tests/data/fuzz-regressions/parse_*-*.bin` (inputs that once crashed an ingest
/// fuzz target) with the target's own checks: no panic, and chunked parsing equals
/// parsing in one piece (which once overflowed with `usize::MAX` as the chunk size).
#[test]
fn ingest_fuzz_regressions() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/fuzz-regressions");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap().to_owned();
        let Some((target, _)) = name.split_once('-') else {
            continue;
        };
        if !target.starts_with("parse_") || !name.ends_with(".bin") {
            continue;
        }
        let data = std::fs::read(&path).unwrap();
        if target == "parse_time" {
            if let Some((&flags, text)) = data.split_first() {
                let unit = [
                    None,
                    Some(TimeUnit::S),
                    Some(TimeUnit::Ms),
                    Some(TimeUnit::Us),
                    Some(TimeUnit::Ns),
                ][(flags & 7) as usize % 5];
                let _ = iotarc::input::parse_timestamp(text, unit, &Tz::Utc);
            }
            seen += 1;
            continue;
        }
        let [flags, size, rest @ ..] = data.as_slice() else {
            continue;
        };
        let o = match target {
            "parse_csv" => fuzz_options(
                *flags,
                match (flags & 1, flags & 0x40) {
                    (_, 0x40) => None,
                    (0, _) => Some(Format::CsvLong),
                    _ => Some(Format::CsvWide),
                },
                false,
            ),
            "parse_jsonl" => {
                fuzz_options(*flags, (flags & 0x40 == 0).then_some(Format::Jsonl), false)
            }
            "parse_lineproto" => fuzz_options(*flags, Some(Format::LineProtocol), true),
            other => panic!("{name}: unknown ingest fuzz target {other:?}"),
        };
        let whole = fuzz_parse(&o, rest, usize::MAX);
        let chunked = fuzz_parse(&o, rest, *size as usize % 64 + 1);
        assert_eq!(whole, chunked, "{name}");
        seen += 1;
    }
    assert!(seen >= 2, "regression files missing");
}
