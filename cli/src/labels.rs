//! Chinese labels for the closed sets of names (roles, statuses, actions,
//! kinds, ...), so human output reads `已派遣 dispatched` and `--help`
//! lists every value with its Chinese term.

use client_core::model::lifecycle::{Action, Rating, Role, Status};
use client_core::model::ticket::{Kind, Source, Urgency};
use client_core::model::visit::{Outcome, VisitType};

/// A closed set of snake_case names with a Chinese label each.
pub trait Named:
    Copy + PartialEq + Send + Sync + 'static + std::str::FromStr<Err = client_core::model::UnknownName>
{
    /// Every value, in the order `--help` lists them.
    const VALUES: &'static [Self];
    /// The stable English code, as stored and as typed on the command line.
    fn code(&self) -> &'static str;
    fn label_zh(&self) -> &'static str;

    /// `已派遣 dispatched`: how human output shows a value.
    fn both(&self) -> String {
        format!("{} {}", self.label_zh(), self.code())
    }
}

macro_rules! named {
    ($ty:ty, $label:path) => {
        impl Named for $ty {
            const VALUES: &'static [Self] = <$ty>::ALL;
            fn code(&self) -> &'static str {
                self.as_str()
            }
            fn label_zh(&self) -> &'static str {
                $label(self)
            }
        }
    };
}

named!(Status, Status::label_zh);
named!(Kind, Kind::label_zh);
named!(Source, Source::label_zh);
named!(Rating, Rating::label_zh);
named!(VisitType, VisitType::label_zh);
named!(Outcome, Outcome::label_zh);
named!(Role, role_zh);
named!(Action, action_zh);
named!(Urgency, urgency_zh);

fn role_zh(r: &Role) -> &'static str {
    match r {
        Role::Worker => "网格员",
        Role::Supervisor => "调度员",
        Role::Unit => "处置单位",
        Role::Reviewer => "区级审阅",
        Role::Admin => "管理员",
    }
}

fn action_zh(a: &Action) -> &'static str {
    match a {
        Action::Reported => "上报",
        Action::Accepted => "立案",
        Action::Invalid => "注销",
        Action::Dispatched => "派遣",
        Action::Acknowledged => "签收",
        Action::Returned => "退单",
        Action::InProgress => "开始处置",
        Action::Handled => "处置完成",
        Action::Verified => "核查通过",
        Action::Rework => "返工",
        Action::Closed => "结案",
        Action::Reopened => "重新立案",
        Action::Suspended => "挂账",
        Action::Resumed => "恢复办理",
        Action::Rated => "回访评价",
        Action::ExtensionRequested => "延期申请",
        Action::ExtensionApproved => "延期批准",
        Action::ExtensionRefused => "延期驳回",
        Action::Urged => "督办",
    }
}

fn urgency_zh(u: &Urgency) -> &'static str {
    match u {
        Urgency::Normal => "一般",
        Urgency::Urgent => "紧急",
    }
}

/// Why `todo` lists a ticket (`TodoItem::why`).
pub fn why_zh(why: &str) -> &'static str {
    match why {
        "conflict" => "冲突",
        "overdue" => "超期",
        "urged" => "督办",
        "extension" => "延期待批",
        _ => "待办",
    }
}

/// `立案 accepted, 注销 invalid`, or `-` for none.
pub fn actions(list: &[Action]) -> String {
    if list.is_empty() {
        return "-".to_owned();
    }
    list.iter().map(Named::both).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_value_has_a_label_and_round_trips() {
        fn check<T: Named + std::fmt::Debug>() {
            for v in T::VALUES {
                assert!(!v.label_zh().is_empty());
                assert_eq!(v.code().parse::<T>().ok(), Some(*v));
            }
        }
        check::<Status>();
        check::<Action>();
        check::<Role>();
        check::<Kind>();
        check::<Source>();
        check::<Urgency>();
        check::<Rating>();
        check::<VisitType>();
        check::<Outcome>();
        assert_eq!(Status::Dispatched.both(), "已派遣 dispatched");
    }
}
