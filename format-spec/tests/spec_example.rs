//! SPEC.md's worked example is real: rebuild the example file with the writer and compare it with
//! the hex dump in SPEC.md, byte for byte, so the document cannot drift from the code.

use tessera_format::{Encoding, MetaValue, RawType, TsrFile, Writer};

const BEGIN: &str = "<!-- example-hex-begin -->";
const END: &str = "<!-- example-hex-end -->";

/// The example of SPEC.md, "Worked example".
fn example_file() -> Vec<u8> {
    let mut w = Writer::in_memory();
    w.set_metadata("general.name", MetaValue::Str("tiny".into()))
        .unwrap();
    let values: Vec<u8> = [1.0f32, 2.0, -0.5, 0.25]
        .iter()
        .flat_map(|v| v.to_le_bytes())
        .collect();
    w.add_tensor("w", &[2, 2], Encoding::Raw(RawType::F32), false, &values)
        .unwrap();
    w.finish_to_vec().unwrap()
}

/// `xxd`-like lines: offset, 16 hex bytes in two groups of 8, printable ASCII.
fn hex_dump(bytes: &[u8]) -> String {
    let mut out = String::new();
    for (i, line) in bytes.chunks(16).enumerate() {
        let hex: Vec<String> = line.iter().map(|b| format!("{b:02x}")).collect();
        let (a, b) = hex.split_at(hex.len().min(8));
        let ascii: String = line
            .iter()
            .map(|&c| {
                if (0x20..0x7f).contains(&c) {
                    c as char
                } else {
                    '.'
                }
            })
            .collect();
        out += &format!(
            "{:08x}  {:<23}  {:<23}  |{}|\n",
            i * 16,
            a.join(" "),
            b.join(" "),
            ascii
        );
    }
    out
}

fn spec_dump() -> String {
    let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/SPEC.md"))
        .expect("SPEC.md beside the crate");
    let start = spec.find(BEGIN).expect("example start marker") + BEGIN.len();
    let end = spec.find(END).expect("example end marker");
    let block = &spec[start..end];
    // Inside a ``` fence: keep only the dump lines.
    block
        .lines()
        .filter(|l| l.len() > 8 && l.as_bytes()[0].is_ascii_hexdigit())
        .map(|l| format!("{}\n", l.trim_end()))
        .collect()
}

#[test]
#[cfg_attr(miri, ignore)] // reads SPEC.md from disk
fn spec_hex_dump_is_what_the_writer_writes() {
    let bytes = example_file();
    let expected = hex_dump(&bytes)
        .lines()
        .map(|l| format!("{}\n", l.trim_end()))
        .collect::<String>();
    assert_eq!(
        spec_dump(),
        expected,
        "SPEC.md's example differs from the writer's output; the writer gives:\n{expected}"
    );
}

#[test]
fn example_file_parses_and_verifies() {
    let bytes = example_file();
    let f = TsrFile::parse(&bytes).unwrap();
    f.verify().unwrap();
    assert_eq!(bytes.len(), 222);
    let w = f.tensor("w").unwrap();
    assert_eq!(w.info.offset, 64);
    assert_eq!(w.info.xxh3, xxhash_rust::xxh3::xxh3_64(w.bytes));
    println!("tensor xxh3 {:#018x}", w.info.xxh3);
}
