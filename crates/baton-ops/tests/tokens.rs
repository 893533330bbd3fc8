//! `token add` / `rm` on real project files: each layout of `server:` gets exactly one line
//! (or the `server:` / `tokens:` lines it needs) and every other byte is kept, a layout it
//! does not know is refused with the line to add by hand, and a failure leaves the file as it
//! was.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use baton_ops::ErrorKind;
use baton_ops::api::tokens::{Role, TokenSource};
use baton_ops::tokens::{add_token, list_tokens, remove_token, token_hash};

/// A commented project, for checking that comments and layout survive.
const BASE: &str = "# The demo project.\nproject: demo   # trailing comment\n\nvars:\n  greeting: hello # a var\n\npipelines:\n  build:\n    stages:\n      # runs the tests\n      test: { run: make test }\n";

struct Fixture {
    _dir: tempfile::TempDir,
    file: PathBuf,
}

fn fixture(text: &str) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("baton.yaml");
    std::fs::write(&file, text).unwrap();
    Fixture { _dir: dir, file }
}

impl Fixture {
    fn text(&self) -> String {
        std::fs::read_to_string(&self.file).unwrap()
    }

    fn dir(&self) -> &Path {
        self.file.parent().unwrap()
    }

    fn project(&self) -> baton_model::Project {
        baton_ops::load_project(&self.file).unwrap()
    }

    fn add(
        &self,
        name: &str,
        role: Role,
    ) -> baton_ops::OpsResult<baton_ops::api::tokens::TokenAdded> {
        add_token(&self.project(), name, role)
    }

    fn rm(&self, name: &str) -> baton_ops::OpsResult<baton_ops::api::tokens::TokenInfo> {
        remove_token(&self.project(), name)
    }
}

/// The one entry line `add` writes for `added`, without indentation.
fn entry(added: &baton_ops::api::tokens::TokenAdded) -> String {
    format!(
        "{}: {{ role: {}, sha256: {} }}",
        added.name,
        added.role.as_str(),
        added.sha256
    )
}

#[test]
fn without_a_server_section_one_is_appended_and_rm_gives_the_file_back() {
    let f = fixture(BASE);
    let added = f.add("ci", Role::Operator).unwrap();
    assert_eq!(
        f.text(),
        format!("{BASE}server:\n  tokens:\n    {}\n", entry(&added))
    );
    let stored = &f.project().server.tokens["ci"];
    assert_eq!(stored.role, baton_model::TokenRole::Operator);
    assert_eq!(stored.sha256, added.sha256);
    f.rm("ci").unwrap();
    assert_eq!(f.text(), BASE);
}

#[test]
fn the_stored_hash_is_the_sha256_of_the_token_returned() {
    let f = fixture(BASE);
    let added = f.add("ci", Role::Viewer).unwrap();
    assert!(added.token.starts_with("baton_"), "{}", added.token);
    let digits = &added.token["baton_".len()..];
    assert_eq!(digits.len(), 64);
    assert!(
        digits
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
    );
    assert_eq!(token_hash(&added.token), added.sha256);
    assert_eq!(
        f.project().server.tokens["ci"].sha256,
        token_hash(&added.token)
    );
    assert_eq!(added.api, 1);
    // Two tokens are never the same.
    let other = f.add("ci2", Role::Viewer).unwrap();
    assert_ne!(other.token, added.token);
    // The token is in the returned value only: never in the file, nor in its `{:?}`.
    assert!(!f.text().contains(&added.token));
    assert!(!format!("{added:?}").contains(&added.token));
}

#[test]
fn a_block_tokens_section_gets_the_entry_first_at_its_indentation() {
    let existing = "    old: { role: viewer, sha256: 0000000000000000000000000000000000000000000000000000000000000000 }\n";
    let head = format!(
        "{BASE}\nserver:   # the API\n  listen: 127.0.0.1:9000\n  # who may call\n  tokens:  # hashes only\n"
    );
    let tail = format!(
        "{existing}    # the deploy robot\n    robot:\n      role: operator   # it deploys\n      sha256: 1111111111111111111111111111111111111111111111111111111111111111\n  grace: 30s\n# the end\n"
    );
    let original = format!("{head}{tail}");
    let f = fixture(&original);
    let added = f.add("ci", Role::Operator).unwrap();
    assert_eq!(f.text(), format!("{head}    {}\n{tail}", entry(&added)));
    let names: Vec<String> = f.project().server.tokens.keys().cloned().collect();
    assert_eq!(names, ["ci", "old", "robot"]);
    f.rm("ci").unwrap();
    assert_eq!(f.text(), original);
}

#[test]
fn a_server_without_tokens_gets_them_right_after_server_at_its_indentation() {
    let head = format!("{BASE}server:\n");
    let tail = "    # where it listens\n    listen: 127.0.0.1:9000\n    grace: 10s\nnodes:\n  web01: { host: 10.0.0.1 }\n";
    let original = format!("{head}{tail}");
    let f = fixture(&original);
    let added = f.add("ci", Role::Viewer).unwrap();
    assert_eq!(
        f.text(),
        format!("{head}    tokens:\n        {}\n{tail}", entry(&added))
    );
    assert_eq!(f.project().server.listen.as_deref(), Some("127.0.0.1:9000"));
    f.rm("ci").unwrap();
    assert_eq!(f.text(), original);
}

#[test]
fn an_empty_server_section_gets_tokens() {
    let original = format!("{BASE}server:\n");
    let f = fixture(&original);
    let added = f.add("ci", Role::Viewer).unwrap();
    assert_eq!(
        f.text(),
        format!("{original}  tokens:\n    {}\n", entry(&added))
    );
    // An emptied `server:` goes, as one `add` appended would: an empty one said nothing.
    f.rm("ci").unwrap();
    assert_eq!(f.text(), BASE);
}

#[test]
fn removing_a_block_entry_takes_its_deeper_lines_and_keeps_the_neighbours() {
    let keep_a = "    a: { role: viewer, sha256: 0000000000000000000000000000000000000000000000000000000000000000 }\n";
    let block = "    b:\n      role: operator\n\n      sha256: 1111111111111111111111111111111111111111111111111111111111111111\n";
    let keep_c = "    # c is the last\n    c: { role: viewer, sha256: 2222222222222222222222222222222222222222222222222222222222222222 }\n";
    let head = format!("{BASE}server:\n  tokens:\n");
    let f = fixture(&format!("{head}{keep_a}{block}{keep_c}"));
    let removed = f.rm("b").unwrap();
    assert_eq!(removed.role, Role::Operator);
    assert_eq!(removed.source, TokenSource::Project);
    assert_eq!(f.text(), format!("{head}{keep_a}{keep_c}"));
    // The last entry of a commented `tokens:` leaves the comment and the key.
    f.rm("a").unwrap();
    f.rm("c").unwrap();
    assert_eq!(f.text(), format!("{head}    # c is the last\n"));
    assert!(f.project().server.tokens.is_empty());
}

#[test]
fn flow_style_is_refused_with_the_line_to_add_by_hand() {
    for original in [
        format!("{BASE}server: {{ listen: 127.0.0.1:9000 }}\n"),
        format!("{BASE}server:\n  tokens: {{}}\n"),
        format!(
            "{BASE}server:\n  tokens: {{ a: {{ role: viewer, sha256: 0000000000000000000000000000000000000000000000000000000000000000 }} }}\n"
        ),
    ] {
        let f = fixture(&original);
        let error = f.add("ci", Role::Operator).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Usage, "{original}");
        assert!(error.message.contains("flow style"), "{}", error.message);
        assert_eq!(f.text(), original, "the file is untouched");
        // The hint holds the exact entry and the token it is the hash of.
        let hint = error.hint.unwrap();
        let line = hint
            .lines()
            .map(str::trim)
            .find(|l| l.starts_with("ci: { role: operator, sha256: "))
            .unwrap_or_else(|| panic!("no entry line in {hint}"));
        let sha256 = line
            .trim_start_matches("ci: { role: operator, sha256: ")
            .trim_end_matches(" }");
        let token = hint
            .split_whitespace()
            .find(|w| w.starts_with("baton_"))
            .unwrap();
        assert_eq!(token_hash(token), sha256);
    }
}

#[test]
fn token_rm_refuses_flow_style_and_leaves_the_file() {
    let original = format!(
        "{BASE}server:\n  tokens: {{ a: {{ role: viewer, sha256: 0000000000000000000000000000000000000000000000000000000000000000 }} }}\n"
    );
    let f = fixture(&original);
    let error = f.rm("a").unwrap_err();
    assert_eq!(error.kind, ErrorKind::Usage);
    assert!(error.hint.unwrap().contains("by hand"));
    assert_eq!(f.text(), original);
}

#[test]
fn an_existing_name_is_a_conflict_naming_it() {
    let f = fixture(BASE);
    f.add("ci", Role::Viewer).unwrap();
    let before = f.text();
    let error = f.add("ci", Role::Operator).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Conflict);
    assert!(error.message.contains("`ci`"), "{}", error.message);
    assert!(error.hint.unwrap().contains("baton token rm ci"));
    assert_eq!(f.text(), before);
}

#[test]
fn bad_names_are_refused_before_anything_is_written() {
    let f = fixture(BASE);
    for bad in ["", "-ci", ".ci", "c i", "c/i", "é", "c:i", "BATON_TOKEN"] {
        let error = f.add(bad, Role::Viewer).unwrap_err();
        assert_eq!(error.kind, ErrorKind::Usage, "{bad:?}");
    }
    assert_eq!(f.text(), BASE);
    // What the model's rule allows works, even a name YAML would read as nothing unquoted.
    for good in ["ci_1", "v1.2-rc", "0day", "null"] {
        f.add(good, Role::Viewer).unwrap();
    }
    let names: Vec<String> = f.project().server.tokens.keys().cloned().collect();
    assert_eq!(names, ["null", "0day", "v1.2-rc", "ci_1"]);
}

#[test]
fn an_unknown_name_is_not_found_with_a_suggestion() {
    let f = fixture(BASE);
    f.add("deploy", Role::Operator).unwrap();
    let error = f.rm("deplyo").unwrap_err();
    assert_eq!(error.kind, ErrorKind::NotFound);
    assert!(error.hint.unwrap().contains("`deploy`"));
    let error = f.rm("zzz").unwrap_err();
    assert_eq!(error.kind, ErrorKind::NotFound);
}

#[test]
fn a_file_that_cannot_be_replaced_is_left_as_it_was() {
    let f = fixture(BASE);
    // The temporary file's place is taken by a directory: even root cannot replace it.
    let temp = f
        .dir()
        .join(format!(".baton.yaml.{}.tmp", std::process::id()));
    std::fs::create_dir(&temp).unwrap();
    let error = f.add("ci", Role::Viewer).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Failed);
    assert!(
        error.message.contains("left as it was"),
        "{}",
        error.message
    );
    assert_eq!(f.text(), BASE);
    std::fs::remove_dir(&temp).unwrap();
}

#[test]
fn an_edit_that_does_not_load_is_put_back() {
    // `server:` lives in an included file, so the one appended to baton.yaml would be a second.
    let original = format!("{BASE}include: [server.yaml]\n");
    let f = fixture(&original);
    std::fs::write(
        f.dir().join("server.yaml"),
        "server:\n  listen: 127.0.0.1:9000\n",
    )
    .unwrap();
    let error = f.add("ci", Role::Viewer).unwrap_err();
    assert_eq!(error.kind, ErrorKind::Failed);
    assert!(error.message.contains("put back"), "{}", error.message);
    assert!(error.hint.unwrap().contains("ci: { role: viewer, sha256: "));
    assert_eq!(f.text(), original);
    f.project();
}

#[test]
fn the_file_keeps_its_mode() {
    let f = fixture(BASE);
    std::fs::set_permissions(&f.file, std::fs::Permissions::from_mode(0o640)).unwrap();
    f.add("ci", Role::Viewer).unwrap();
    let mode = std::fs::metadata(&f.file).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
    f.rm("ci").unwrap();
    let mode = std::fs::metadata(&f.file).unwrap().permissions().mode() & 0o7777;
    assert_eq!(mode, 0o640);
    // No temporary file is left beside it.
    let names: Vec<String> = std::fs::read_dir(f.dir())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["baton.yaml"]);
}

#[test]
fn the_list_has_the_project_tokens_then_baton_token_when_set() {
    let f = fixture(BASE);
    assert!(list_tokens(&f.project(), None).is_empty());
    assert!(list_tokens(&f.project(), Some("")).is_empty());
    let added = f.add("ci", Role::Viewer).unwrap();
    let listed = list_tokens(&f.project(), Some("s3cret"));
    assert_eq!(listed.len(), 2);
    assert_eq!(listed[0].name, "ci");
    assert_eq!(listed[0].role, Role::Viewer);
    assert_eq!(listed[0].sha256_prefix, added.sha256[..12]);
    assert_eq!(listed[0].source, TokenSource::Project);
    assert_eq!(listed[1].name, "BATON_TOKEN");
    assert_eq!(listed[1].role, Role::Operator);
    assert_eq!(listed[1].sha256_prefix, token_hash("s3cret")[..12]);
    assert_eq!(listed[1].source, TokenSource::Env);
    // BATON_TOKEN is not baton.yaml's to remove.
    assert_eq!(f.rm("BATON_TOKEN").unwrap_err().kind, ErrorKind::Usage);
}

#[test]
fn concurrent_adds_keep_every_token() {
    let f = fixture(BASE);
    std::thread::scope(|scope| {
        for i in 0..6 {
            let f = &f;
            scope.spawn(move || f.add(&format!("t{i}"), Role::Viewer).unwrap());
        }
    });
    let mut names: Vec<String> = f.project().server.tokens.keys().cloned().collect();
    names.sort();
    assert_eq!(names, ["t0", "t1", "t2", "t3", "t4", "t5"]);
}
