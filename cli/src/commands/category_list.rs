//! `gridsync category list`: the category catalog this device holds.

use crate::data_dir::DataDir;
use crate::error::CliError;
use crate::output::{self, Output};

pub fn run(dir: &DataDir, out: &mut Output) -> Result<(), CliError> {
    let device = dir.open_device()?;
    let Some(catalog) = device.catalog()? else {
        if out.is_json() {
            return out.json(&serde_json::Value::Null);
        }
        return out.line(
            "this device has no category catalog yet; run `gridsync sync` to receive it from the relay",
        );
    };
    if out.is_json() {
        return out.json(&catalog);
    }
    let mut t = output::table([
        "代码 code",
        "名称 name",
        "类型 kind",
        "时限 limit",
        "紧急时限 urgent",
        "处置后照片 after photos",
    ]);
    for c in catalog.categories.values() {
        t.add_row([
            c.code.clone(),
            format!("{} {}", c.name_zh, c.name_en),
            c.kind.label_zh().to_owned(),
            output::or_dash(c.time_limit.map(|l| l.label_zh())),
            output::or_dash(c.urgent_time_limit.map(|l| l.label_zh())),
            if c.after_photos_required { "是" } else { "-" }.to_owned(),
        ]);
    }
    out.table(&t)?;
    out.line(format!(
        "catalog version {}: {} categories",
        catalog.version,
        catalog.categories.len()
    ))
}
