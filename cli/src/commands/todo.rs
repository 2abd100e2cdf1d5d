//! `gridsync todo`: what needs my action (待办), most urgent first.

use crate::data_dir::DataDir;
use crate::error::CliError;
use crate::labels::{self, Named};
use crate::output::{self, Output};
use crate::time;
use crate::uuid_prefix::short;

pub fn run(dir: &DataDir, out: &mut Output) -> Result<(), CliError> {
    let device = dir.open_device()?;
    let items = device.todo(time::now_ms())?;
    if out.is_json() {
        return out.json(&items);
    }
    let me = device.identity();
    if items.is_empty() {
        return out.line(format!(
            "nothing needs your action ({} {})",
            me.user,
            me.role.both()
        ));
    }
    let mut t = output::table([
        "原因 why",
        "编号 id",
        "状态 status",
        "标题 title",
        "期限 due",
        "建议操作 next",
    ]);
    for item in &items {
        let s = &item.ticket;
        t.add_row([
            format!("{} {}", labels::why_zh(item.why), item.why),
            short(&s.id.uuid()),
            s.status.both(),
            output::first_line(&s.title),
            time::show(s.due_at),
            labels::actions(&item.actions),
        ]);
    }
    out.table(&t)?;
    if let Some(item) = items.iter().find(|i| !i.actions.is_empty()) {
        out.line(format!(
            "for example: gridsync ticket event {} {}",
            short(&item.ticket.id.uuid()),
            item.actions[0].code()
        ))?;
    }
    Ok(())
}
