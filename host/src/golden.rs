//! Golden-file tests of refusals: every `NAME.toml` in a directory must be
//! refused with exactly the message in `NAME.err`. `RILL_BLESS=1` rewrites
//! the `.err` files after a deliberate wording change.

use std::path::Path;

/// Checks every `*.toml` in `dir` against its `.err`; `refuse` gets the
/// path to show (`invalid/NAME.toml`) and the text, and returns the
/// rendered refusal. At least `min` files must be there.
pub fn check_refusals(dir: &Path, min: usize, refuse: impl Fn(&Path, &str) -> String) {
    let bless = std::env::var_os("RILL_BLESS").is_some();
    let mut entries: Vec<_> = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    let mut checked = 0;
    for path in entries.iter().filter(|p| p.extension().is_some_and(|e| e == "toml")) {
        let text = std::fs::read_to_string(path).unwrap();
        let shown = Path::new("invalid").join(path.file_name().unwrap());
        let rendered = format!("{}\n", refuse(&shown, &text));
        let golden = path.with_extension("err");
        if bless {
            std::fs::write(&golden, &rendered).unwrap();
        }
        let expected = std::fs::read_to_string(&golden)
            .unwrap_or_else(|_| panic!("{} is missing; run with RILL_BLESS=1", golden.display()));
        assert_eq!(rendered, expected, "{}", path.display());
        checked += 1;
    }
    assert!(checked >= min, "only {checked} golden files in {}", dir.display());
}
