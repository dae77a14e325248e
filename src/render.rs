//! How results look: sizes, warnings. The library crates return data; only the binary prints.

/// How many items a warning lists before "and N more".
const SHOWN: usize = 5;

/// Bytes as MiB with one decimal, for summaries.
pub fn mib(bytes: u64) -> String {
    cairn_remote::mib(bytes)
}

/// Each line as a warning on stderr.
pub fn warn_all(lines: &[String]) {
    for line in lines {
        eprintln!("warning: {line}");
    }
}

/// The first few `items` as warnings saying `what`, then how many more `rest` there are.
pub fn warn_first_few(what: &str, rest: &str, items: &[String]) {
    for item in items.iter().take(SHOWN) {
        eprintln!("warning: {what}: {item}");
    }
    if items.len() > SHOWN {
        eprintln!("warning: … and {} more {rest}", items.len() - SHOWN);
    }
}
