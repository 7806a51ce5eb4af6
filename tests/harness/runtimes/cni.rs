//! CNI pieces for the runtime fixtures: where the standard plugins are,
//! and a merged plugin directory for `ctr` (which looks in one directory
//! only).

use std::path::Path;

/// Where Debian's containernetworking-plugins puts the standard plugins.
pub const STANDARD_PLUGINS: &str = "/usr/lib/cni";

/// Fills `dir` with links to the standard plugins and then to every file
/// of `extra` (which wins on a name both have): `ctr` finds plugins in
/// /opt/cni/bin only, and this directory is mounted there.
pub fn merged_plugin_dir(dir: &Path, extra: Option<&Path>) {
    std::fs::create_dir_all(dir).expect("plugin directory");
    let sources = std::iter::once(Path::new(STANDARD_PLUGINS)).chain(extra);
    for source in sources {
        let entries = std::fs::read_dir(source).expect("read a plugin directory");
        for entry in entries.filter_map(|e| e.ok()) {
            let link = dir.join(entry.file_name());
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(entry.path(), link).expect("link a plugin");
        }
    }
}
