//! `netagent demo` (placeholder until the walkthrough lands).

/// Runs the demo.
pub fn run() -> anyhow::Result<i32> {
    anyhow::bail!("the demo is not built yet")
}
