//! What the built-in resource types and their attributes are for: the text of the reference
//! pages (`baton schema --reference DIR` writes `docs/reference/`). A test checks every type
//! and attribute has one, so a new attribute cannot ship undocumented.

/// One sentence on a built-in type.
pub(crate) fn type_doc(name: &str) -> &'static str {
    match name {
        "file" => {
            "A file with the given content (or a copy of a local `source`), mode and owner. Written through baton's verified upload: a temporary beside it, size and sha256 checked, then renamed."
        }
        "directory" => {
            "A directory with a mode and owner. Destroying it removes it only when empty."
        }
        "symlink" => "A symbolic link at `path` pointing to `target`.",
        "user" => "A system user (`useradd`/`usermod`/`userdel`).",
        "group" => "A system group (`groupadd`/`groupmod`/`groupdel`).",
        "service" => {
            "A systemd service's state (started or stopped) and whether it starts at boot."
        }
        "cron" => "A cron entry, one file per entry in `/etc/cron.d` (replaced atomically).",
        "command" => {
            "The escape hatch: shell commands that create, read, update and delete something baton has no type for."
        }
        _ => "",
    }
}

/// One sentence on an attribute of a built-in type.
pub(crate) fn attr_doc(kind: &str, attr: &str) -> &'static str {
    match (kind, attr) {
        ("file" | "directory" | "symlink", "path") => {
            "Absolute path on the node. Changing it replaces the resource."
        }
        ("file", "content") => {
            "The file's content (a template). Exactly one of `content` and `source`."
        }
        ("file", "source") => "A local file (relative to the project) whose bytes are uploaded.",
        ("file", "mode") | ("directory", "mode") => "Permission bits, `\"0644\"` style.",
        ("file" | "directory", "owner") => "Owning user (default: the connecting user).",
        ("file" | "directory", "group") => "Owning group.",
        ("file", "sha256") => {
            "Computed: the sha256 of the content on the node, compared to find drift."
        }
        ("symlink", "target") => "What the link points to.",
        ("user", "name") | ("group", "name") => {
            "The account's name. Changing it replaces the resource."
        }
        ("user", "uid") => "Numeric user id (default: the system picks one).",
        ("user", "gid") => "Primary group, by name or number.",
        ("user", "home") => "Home directory.",
        ("user", "shell") => "Login shell.",
        ("user", "groups") => "Supplementary groups.",
        ("user", "password") => {
            "A crypt(3) hash, as `useradd -p` takes it. Sensitive: stored as a hash, hidden in plans."
        }
        ("group", "gid") => "Numeric group id (default: the system picks one).",
        ("service", "name") => "The systemd unit's name (`nginx`, `nginx.service`).",
        ("service", "state") => "`started` or `stopped`.",
        ("service", "enabled") => "Whether it starts at boot (unset: left as it is).",
        ("cron", "name") => "The entry's name: its file is `/etc/cron.d/baton-NAME`.",
        ("cron", "schedule") => "Five cron fields (`*/5 * * * *`).",
        ("cron", "command") => "The command to run.",
        ("cron", "user") => "The user it runs as.",
        ("command", "create") => {
            "Makes the thing. Without `update`, a changed `create` re-creates it."
        }
        ("command", "delete") => "Removes it (on destroy, and before a re-create).",
        ("command", "read") => {
            "Exits 0 while the thing exists, so a deletion outside baton shows as drift."
        }
        ("command", "update") => "Changes it in place when an attribute changed.",
        ("command", "output") => {
            "Computed: what `create` (or `update`) printed, for other resources to use."
        }
        _ => "",
    }
}
