//! `docs/differences.md` is the test data: every entry's example is pasted into the REPL of one
//! virtual LoPy4 (paste mode, as a user would) and what comes back on the UART must be the
//! entry's `pycom-sim` block byte for byte. An entry whose two blocks agree says pycom-sim now
//! behaves as the module; one whose blocks differ pins today's difference, so the page cannot
//! drift from the simulator in either direction.

mod support;

use pycom_sim::device::FlashSource;
use support::Rig;

const PAGE: &str = include_str!("../docs/differences.md");

/// One `### ` entry of the page: its title and its three fenced blocks.
#[derive(Debug)]
struct Entry {
    title: String,
    code: Vec<String>,
    module: String,
    sim: String,
}

/// The fenced block with info string `kind` in `section`, without its fences.
fn block(section: &str, kind: &str) -> Option<String> {
    let open = format!("```{kind}\n");
    let start = section.find(&open)? + open.len();
    let end = section[start..].find("```")?;
    Some(section[start..start + end].to_string())
}

fn entries() -> Vec<Entry> {
    PAGE.split("\n### ")
        .skip(1)
        .map(|section| {
            let title = section.lines().next().unwrap_or_default().to_string();
            let need = |kind| {
                block(section, kind).unwrap_or_else(|| panic!("{title}: no ```{kind} block"))
            };
            Entry {
                code: need("python").lines().map(str::to_string).collect(),
                module: need("module"),
                sim: need("pycom-sim"),
                title: title.clone(),
            }
        })
        .collect()
}

/// Text as the UART carries it: LF cooked to CRLF.
fn cooked(text: &str) -> String {
    text.replace('\n', "\r\n")
}

#[test]
fn every_entry_of_docs_differences_is_what_the_uart_shows() {
    let entries = entries();
    assert!(
        entries.len() >= 15,
        "the page lost entries: {}",
        entries.len()
    );
    let mut rig = Rig::new(FlashSource::Fresh);
    assert!(rig.boot().ends_with(">>> "));
    let mut wrong = Vec::new();
    for entry in &entries {
        let lines: Vec<&str> = entry.code.iter().map(String::as_str).collect();
        let got = rig.paste(&lines);
        if got != cooked(&entry.sim) {
            wrong.push(format!(
                "{}\n  page says: {:?}\n  UART says: {got:?}",
                entry.title,
                cooked(&entry.sim)
            ));
        }
    }
    rig.shutdown();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn mended_entries_match_the_module_and_open_ones_say_how_they_differ() {
    let page_parts: Vec<&str> = PAGE.split("\n## ").collect();
    let mended = page_parts
        .iter()
        .find(|p| p.starts_with("Now as on the module"))
        .expect("a 'Now as on the module' part");
    let open = page_parts
        .iter()
        .find(|p| p.starts_with("Where pycom-sim differs"))
        .expect("a 'Where pycom-sim differs' part");
    let titles = |part: &str| -> Vec<String> {
        part.split("\n### ")
            .skip(1)
            .map(|s| s.lines().next().unwrap_or_default().to_string())
            .collect()
    };
    let (mended, open) = (titles(mended), titles(open));
    assert!(mended.len() >= 6 && open.len() >= 9, "{mended:?} {open:?}");
    for entry in entries() {
        if mended.contains(&entry.title) {
            assert_eq!(entry.module, entry.sim, "{}", entry.title);
        } else {
            assert!(open.contains(&entry.title), "{} is in no part", entry.title);
            assert_ne!(entry.module, entry.sim, "{} does not differ", entry.title);
        }
    }
}
