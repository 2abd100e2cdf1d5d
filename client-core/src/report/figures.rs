//! The district-review figures: what one ticket contributes to them
//! ([`TicketFacts`], worked out from the [`FigureRecord`] its summary
//! keeps, so figures need no document), the small per-group accumulator that adds them up
//! ([`Accumulator`]) and the finished figures of a group ([`Summary`]).
//!
//! # Definitions
//!
//! A report covers the period `[from, to)` and describes the tickets as of
//! the instant `as_of` (the end of the period unless the caller gives an
//! earlier instant for a period that is not over). Device times of the
//! lifecycle events date everything. "Working time" is counted on the
//! report's [`Calendar`] at the report's UTC offset.
//!
//! | figure | definition |
//! |---|---|
//! | reported 上报数 | tickets whose `reported` event falls in the period |
//! | accepted 立案数 | tickets first accepted (立案) in the period |
//! | due to close 应结案数 | tickets whose deadline (`due_at`, set at dispatch) falls in the period, except tickets cancelled as invalid (注销) and tickets closed as a duplicate or cancelled |
//! | suspended 挂账数 | tickets due to close that were suspended (挂账) at any time before `as_of`; they leave the closure and on-time figures entirely (the clock is not merely paused) |
//! | closed 结案数 | tickets due to close, not suspended, closed by `as_of` |
//! | closed on time 按期结案数 | of those closed, the ones closed before no working time had elapsed past the deadline: `closed_at <= due_at`, or only non-working time (evening, weekend, holiday) between the two |
//! | overdue and still open 超期未结数 | tickets due to close, not suspended, still open at `as_of` with working time elapsed past the deadline |
//! | returned 退单次数 | `returned` (退单) events in the period |
//! | handled 处置次数 | `handled` events in the period |
//! | reworked 返工次数 | `rework` (返工) events in the period |
//! | extensions approved 延期批准次数 | `extension_approved` (延期批准) events in the period; the deadline they grant is the ticket's `due_at` from then on, so due-to-close, on-time and overdue figures count it |
//! | urged 督办次数 | `urged` (督办) events in the period; also per handling unit, in the by-unit table (按处置单位汇总) |
//! | on-time closure rate 按期结案率 | closed on time / (due to close − suspended) |
//! | closure rate 结案率 | closed / (due to close − suspended) |
//! | rework rate 返工率 | reworked / handled |
//! | handling time 处置工时 | for tickets whose latest `handled` event falls in the period: working hours from the first dispatch to that `handled`, less working time spent suspended in between; mean, and median to the minute |
//! | callbacks 回访数 | tickets whose latest rating (回访) was recorded in the period |
//! | satisfaction rate 满意率 | (满意 + 基本满意) / callbacks |
//! | visits 走访次数 | visit records started in the period that are not corrections of an earlier record |
//! | households 走访户数 | distinct households (per grid) with a visit started in the period whose outcome is "met" (见面); a correction counts |
//!
//! A rate whose denominator is zero is empty, not zero. A ticket that was
//! reopened is judged by its latest close; one closed after `as_of` counts
//! as open at `as_of`.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, FixedOffset, NaiveDate};
use serde::Serialize;

use super::Period;
use super::calendar::{Calendar, HOUR_MS};
use crate::model::lifecycle::{Action, Rating};
use crate::model::summary::FigureRecord;
use crate::model::visit::{Outcome, Visit};

const MINUTE_MS: i64 = 60_000;

/// What the figures are computed against.
#[derive(Debug, Clone, Copy)]
pub struct Basis<'a> {
    pub period: Period,
    /// The instant the report describes; at most `period.to`.
    pub as_of: i64,
    pub calendar: &'a Calendar,
    pub offset: FixedOffset,
}

impl Basis<'_> {
    fn working(&self, from: i64, to: i64) -> i64 {
        self.calendar.working_ms_between(from, to, self.offset)
    }

    fn covered(&self, ms: i64) -> bool {
        local_date(ms, self.offset).is_none_or(|d| self.calendar.covers(d))
    }
}

fn local_date(ms: i64, offset: FixedOffset) -> Option<NaiveDate> {
    DateTime::from_timestamp_millis(ms).map(|t| t.with_timezone(&offset).date_naive())
}

/// One ticket's contribution to the figures, and the per-ticket values of
/// its export row. See the module documentation for each definition.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TicketFacts {
    pub reported: bool,
    pub accepted: bool,
    pub due: bool,
    pub suspended: bool,
    pub closed: bool,
    pub closed_on_time: bool,
    pub overdue_open: bool,
    pub returned: u32,
    pub handled: u32,
    pub reworked: u32,
    pub extensions_approved: u32,
    pub urged: u32,
    /// Working ms of handling, when the latest `handled` is in the period.
    pub handling_ms: Option<i64>,
    /// The latest rating, when it was recorded in the period.
    pub rating: Option<Rating>,
    /// Row value: the ticket was closed late, or is open at `as_of` with
    /// working time elapsed past its deadline (whatever its period).
    pub overdue: bool,
    /// Row value: working ms past the deadline (0 when not overdue).
    pub overdue_ms: i64,
    /// Row value: the ticket was suspended at some time before `as_of`.
    pub ever_suspended: bool,
    /// Working time was counted across a date the calendar lists no
    /// holidays for (weekends only were taken off).
    pub outside_calendar: bool,
}

impl TicketFacts {
    /// Works out a ticket's facts from what its summary keeps of it
    /// ([`FigureRecord::of`] the ticket).
    pub fn of(r: &FigureRecord, basis: &Basis<'_>) -> TicketFacts {
        let period = basis.period;
        let as_of = basis.as_of;
        let mut f = TicketFacts {
            reported: r.reported_at.is_some_and(|at| period.contains(at)),
            accepted: r.accepted_at.is_some_and(|a| period.contains(a)),
            ..TicketFacts::default()
        };

        // Events applied in the period.
        for &(action, _) in r.events.iter().filter(|(_, at)| period.contains(*at)) {
            match action {
                Action::Returned => f.returned += 1,
                Action::Handled => f.handled += 1,
                Action::Rework => f.reworked += 1,
                Action::ExtensionApproved => f.extensions_approved += 1,
                Action::Urged => f.urged += 1,
                _ => {}
            }
        }
        f.rating = r
            .rated
            .filter(|(_, at)| period.contains(*at))
            .map(|(rating, _)| rating);

        // Closed as of the report's instant (a later close is in the future).
        let closed_at = r.closed_at.filter(|c| *c < as_of);
        f.ever_suspended = r.suspensions.iter().any(|(s, _)| *s < as_of);

        if let Some(due_at) = r.due_at.filter(|_| !r.written_off) {
            let end = closed_at.unwrap_or(as_of);
            f.overdue_ms = if end > due_at {
                basis.working(due_at, end)
            } else {
                0
            };
            f.overdue = f.overdue_ms > 0;
            f.outside_calendar |= end > due_at && !(basis.covered(due_at) && basis.covered(end));
            if period.contains(due_at) {
                f.due = true;
                f.suspended = f.ever_suspended;
                if !f.suspended {
                    f.closed = closed_at.is_some();
                    f.closed_on_time = f.closed && !f.overdue;
                    f.overdue_open = !f.closed && f.overdue;
                }
            }
        }

        if let (Some(handled_at), Some(dispatched_at)) = (r.handled_at, r.dispatched_at)
            && period.contains(handled_at)
            && handled_at >= dispatched_at
        {
            let suspended: i64 = r
                .suspensions
                .iter()
                .map(|&(s, e)| {
                    let s = s.max(dispatched_at);
                    let e = e.unwrap_or(handled_at).min(handled_at);
                    basis.working(s, e)
                })
                .sum();
            f.handling_ms = Some((basis.working(dispatched_at, handled_at) - suspended).max(0));
            f.outside_calendar |= !(basis.covered(dispatched_at) && basis.covered(handled_at));
        }
        f
    }

    /// Whether the ticket counts in any figure of the period; only such
    /// tickets get a row.
    pub fn in_report(&self) -> bool {
        self.reported
            || self.accepted
            || self.due
            || self.returned > 0
            || self.handled > 0
            || self.reworked > 0
            || self.extensions_approved > 0
            || self.urged > 0
            || self.handling_ms.is_some()
            || self.rating.is_some()
    }
}

/// Handling times to the minute: a count per distinct minute value, so the
/// median is exact to the minute while memory grows with the spread of the
/// values, not with the number of tickets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Durations {
    minutes: BTreeMap<i64, u64>,
    sum_ms: i128,
    n: u64,
}

impl Durations {
    fn add(&mut self, ms: i64) {
        *self.minutes.entry(ms.div_euclid(MINUTE_MS)).or_default() += 1;
        self.sum_ms += i128::from(ms);
        self.n += 1;
    }

    fn merge(&mut self, other: &Durations) {
        for (m, c) in &other.minutes {
            *self.minutes.entry(*m).or_default() += c;
        }
        self.sum_ms += other.sum_ms;
        self.n += other.n;
    }

    fn mean_hours(&self) -> Option<f64> {
        (self.n > 0).then(|| self.sum_ms as f64 / self.n as f64 / HOUR_MS as f64)
    }

    /// The median in hours (the mean of the two middle values for an even
    /// count), each value taken to the minute.
    fn median_hours(&self) -> Option<f64> {
        if self.n == 0 {
            return None;
        }
        let nth = |k: u64| {
            let mut seen = 0;
            for (m, c) in &self.minutes {
                seen += c;
                if seen > k {
                    return *m;
                }
            }
            unreachable!("k < n")
        };
        let mid = self.n / 2;
        let minutes = if self.n % 2 == 1 {
            nth(mid) as f64
        } else {
            (nth(mid - 1) + nth(mid)) as f64 / 2.0
        };
        Some(minutes / 60.0)
    }
}

/// The running totals of one group (a grid, community, street or the whole
/// report). Small and fixed in size apart from the handling-time minutes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Accumulator {
    reported: u64,
    accepted: u64,
    due: u64,
    suspended: u64,
    closed: u64,
    closed_on_time: u64,
    overdue_open: u64,
    returned: u64,
    handled: u64,
    reworked: u64,
    extensions_approved: u64,
    urged: u64,
    handling: Durations,
    satisfied: u64,
    basic: u64,
    dissatisfied: u64,
    visits: u64,
    households: u64,
}

impl Accumulator {
    pub fn add_ticket(&mut self, f: &TicketFacts) {
        self.reported += u64::from(f.reported);
        self.accepted += u64::from(f.accepted);
        self.due += u64::from(f.due);
        self.suspended += u64::from(f.suspended);
        self.closed += u64::from(f.closed);
        self.closed_on_time += u64::from(f.closed_on_time);
        self.overdue_open += u64::from(f.overdue_open);
        self.returned += u64::from(f.returned);
        self.handled += u64::from(f.handled);
        self.reworked += u64::from(f.reworked);
        self.extensions_approved += u64::from(f.extensions_approved);
        self.urged += u64::from(f.urged);
        if let Some(ms) = f.handling_ms {
            self.handling.add(ms);
        }
        match f.rating {
            Some(Rating::Satisfied) => self.satisfied += 1,
            Some(Rating::Basic) => self.basic += 1,
            Some(Rating::Dissatisfied) => self.dissatisfied += 1,
            None => {}
        }
    }

    /// Counts a visit record of the period (corrections are not visits).
    pub fn add_visit(&mut self, v: &Visit) {
        self.visits += u64::from(v.amends.is_none());
    }

    /// Adds distinct households, counted per grid by [`Households`].
    pub fn add_households(&mut self, n: u64) {
        self.households += n;
    }

    pub fn merge(&mut self, o: &Accumulator) {
        self.reported += o.reported;
        self.accepted += o.accepted;
        self.due += o.due;
        self.suspended += o.suspended;
        self.closed += o.closed;
        self.closed_on_time += o.closed_on_time;
        self.overdue_open += o.overdue_open;
        self.returned += o.returned;
        self.handled += o.handled;
        self.reworked += o.reworked;
        self.extensions_approved += o.extensions_approved;
        self.urged += o.urged;
        self.handling.merge(&o.handling);
        self.satisfied += o.satisfied;
        self.basic += o.basic;
        self.dissatisfied += o.dissatisfied;
        self.visits += o.visits;
        self.households += o.households;
    }

    /// The finished figures.
    pub fn summary(&self) -> Summary {
        let rate = |num: u64, den: u64| (den > 0).then(|| num as f64 / den as f64);
        let judged = self.due - self.suspended;
        let rated = self.satisfied + self.basic + self.dissatisfied;
        Summary {
            reported: self.reported,
            accepted: self.accepted,
            due: self.due,
            suspended: self.suspended,
            closed: self.closed,
            closed_on_time: self.closed_on_time,
            overdue_open: self.overdue_open,
            returned: self.returned,
            handled: self.handled,
            reworked: self.reworked,
            on_time_rate: rate(self.closed_on_time, judged),
            closure_rate: rate(self.closed, judged),
            rework_rate: rate(self.reworked, self.handled),
            handling_count: self.handling.n,
            mean_handling_hours: self.handling.mean_hours(),
            median_handling_hours: self.handling.median_hours(),
            rated,
            satisfied: self.satisfied,
            basically_satisfied: self.basic,
            dissatisfied: self.dissatisfied,
            satisfaction_rate: rate(self.satisfied + self.basic, rated),
            visits: self.visits,
            households_visited: self.households,
            extensions_approved: self.extensions_approved,
            urged: self.urged,
        }
    }
}

/// The figures of one group; see the module documentation.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Summary {
    pub reported: u64,
    pub accepted: u64,
    pub due: u64,
    pub suspended: u64,
    pub closed: u64,
    pub closed_on_time: u64,
    pub overdue_open: u64,
    pub returned: u64,
    pub handled: u64,
    pub reworked: u64,
    pub on_time_rate: Option<f64>,
    pub closure_rate: Option<f64>,
    pub rework_rate: Option<f64>,
    /// How many tickets the handling times are over.
    pub handling_count: u64,
    pub mean_handling_hours: Option<f64>,
    pub median_handling_hours: Option<f64>,
    pub rated: u64,
    pub satisfied: u64,
    pub basically_satisfied: u64,
    pub dissatisfied: u64,
    pub satisfaction_rate: Option<f64>,
    pub visits: u64,
    pub households_visited: u64,
    pub extensions_approved: u64,
    pub urged: u64,
}

/// Distinct households of one grid met in the period. Household refs
/// (building-unit-room) are unique within a grid only, so coverage is
/// counted per grid and summed upwards; the set is bounded by the grid's
/// households, not by the number of visits.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Households(HashSet<String>);

impl Households {
    pub fn add_visit(&mut self, v: &Visit) {
        if v.outcome == Outcome::Met
            && let Some(h) = v
                .household
                .as_deref()
                .map(str::trim)
                .filter(|h| !h.is_empty())
            && !self.0.contains(h)
        {
            self.0.insert(h.to_owned());
        }
    }

    pub fn len(&self) -> u64 {
        self.0.len() as u64
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_is_exact_to_the_minute() {
        let mut d = Durations::default();
        assert_eq!(d.median_hours(), None);
        for minutes in [30, 90, 600] {
            d.add(minutes * MINUTE_MS);
        }
        assert_eq!(d.median_hours(), Some(1.5));
        d.add(120 * MINUTE_MS);
        // 30, 90, 120, 600: (90 + 120) / 2 = 105 minutes.
        assert_eq!(d.median_hours(), Some(1.75));
        assert_eq!(d.mean_hours(), Some(210.0 / 60.0));
    }

    #[test]
    fn rates_with_no_denominator_are_empty() {
        let s = Accumulator::default().summary();
        assert_eq!(s.on_time_rate, None);
        assert_eq!(s.satisfaction_rate, None);
        assert_eq!(s.rework_rate, None);
    }
}
