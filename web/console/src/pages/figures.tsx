// The district-review figures (`/api/figures`, the export's definitions
// and numbers): headline rates, the tables per street, community, grid and
// handling unit, and a weekly trend drawn as SVG from one figures request per week.

import { useState } from "preact/hooks";
import { api, type Query } from "../api";
import { formatDay, percent, weekStart } from "../format";
import { t, type Key } from "../i18n";
import type { FigureRow, Figures, Me } from "../types";
import { ErrorBox, Loading, PageHeader, useAsync } from "../ui";

const TOTAL_NAMES = new Set(["合计", "Total"]);
const WEEKS = 8;

/** The total row the export appends to each table, or one summed from the streets. */
function totalOf(f: Figures): FigureRow {
  const streets = f.summary_by_street ?? [];
  const last = streets[streets.length - 1];
  if (last && TOTAL_NAMES.has(String(last.district))) return last;
  const sum: Record<string, number> = {};
  for (const row of streets) {
    for (const [k, v] of Object.entries(row)) if (typeof v === "number") sum[k] = (sum[k] ?? 0) + v;
  }
  const judged = (sum.due ?? 0) - (sum.suspended ?? 0);
  const rated = (sum.satisfied ?? 0) + (sum.basically_satisfied ?? 0) + (sum.dissatisfied ?? 0);
  return {
    ...sum,
    on_time_rate: judged > 0 ? (sum.closed_on_time ?? 0) / judged : null,
    closure_rate: judged > 0 ? (sum.closed ?? 0) / judged : null,
    satisfaction_rate: rated > 0 ? ((sum.satisfied ?? 0) + (sum.basically_satisfied ?? 0)) / rated : null,
  };
}

const rowsOf = (rows: FigureRow[] | undefined) => (rows ?? []).filter((r) => !TOTAL_NAMES.has(String(r.district)));

interface Filter {
  grid: string;
  community: string;
  street: string;
  from: string;
  to: string;
}

export function FiguresPage({ me }: { me: Me }) {
  const [draft, setDraft] = useState<Filter>({ grid: "", community: "", street: "", from: "", to: "" });
  const [filter, setFilter] = useState<Filter>(draft);
  const place: Query = { grid: filter.grid, community: filter.community, street: filter.street };
  const figures = useAsync(() => api.get<Figures>("/api/figures", { ...place, from: filter.from, to: filter.to }), [
    JSON.stringify(filter),
  ]);
  const set = (key: keyof Filter) => (e: Event) => setDraft({ ...draft, [key]: (e.currentTarget as HTMLInputElement).value });

  return (
    <div>
      <PageHeader title={t("figures_title")} />
      <form
        class="filters panel"
        onSubmit={(e) => {
          e.preventDefault();
          setFilter(draft);
        }}
      >
        <label class="field-inline">
          <span>{t("filter_grid")}</span>
          <input value={draft.grid} onInput={set("grid")} size={10} list="fig-grids" />
          <datalist id="fig-grids">
            {me.grids.map((g) => (
              <option key={g} value={g} />
            ))}
          </datalist>
        </label>
        <label class="field-inline">
          <span>{t("filter_community")}</span>
          <input value={draft.community} onInput={set("community")} size={8} />
        </label>
        <label class="field-inline">
          <span>{t("filter_street")}</span>
          <input value={draft.street} onInput={set("street")} size={8} />
        </label>
        <label class="field-inline">
          <span>{t("period")}</span>
          <input type="date" value={draft.from} onInput={set("from")} />
          <span>–</span>
          <input type="date" value={draft.to} onInput={set("to")} />
        </label>
        <button class="btn btn-primary" type="submit">
          {t("filter_apply")}
        </button>
      </form>
      {figures.error ? <ErrorBox error={figures.error} retry={figures.reload} /> : null}
      {!figures.data ? (
        figures.loading ? <Loading /> : null
      ) : (
        <FiguresView figures={figures.data} />
      )}
      <section class="panel">
        <h2>{t("weekly_trend", { n: WEEKS })}</h2>
        <Trend place={place} key={JSON.stringify(place)} />
      </section>
    </div>
  );
}

function FiguresView({ figures }: { figures: Figures }) {
  const total = totalOf(figures);
  const cards: { key: Key; value: string; field: string }[] = [
    { key: "on_time_rate", value: percent(total.on_time_rate), field: "on_time_rate" },
    { key: "satisfaction_rate", value: percent(total.satisfaction_rate), field: "satisfaction_rate" },
    { key: "closure_rate", value: percent(total.closure_rate), field: "closure_rate" },
    { key: "reported_n", value: String(total.reported ?? 0), field: "reported" },
    { key: "closed_n", value: String(total.closed ?? 0), field: "closed" },
    { key: "overdue_open_n", value: String(total.overdue_open ?? 0), field: "overdue_open" },
  ];
  return (
    <>
      <div class="figure-cards">
        {cards.map((c) => (
          <div class="figure-card" key={c.key} data-figure={c.field}>
            <div class="figure-label">{t(c.key)}</div>
            <div class="figure-value">{c.value}</div>
          </div>
        ))}
      </div>
      <FigureTable title={t("by_street")} rows={rowsOf(figures.summary_by_street)} place={["district", "street"]} />
      <FigureTable
        title={t("by_community")}
        rows={rowsOf(figures.summary_by_community)}
        place={["street", "community"]}
      />
      <FigureTable title={t("by_grid")} rows={rowsOf(figures.summary_by_grid)} place={["community", "grid", "grid_name"]} />
      <FigureTable
        title={t("by_unit")}
        rows={(figures.summary_by_unit ?? []).filter((r) => !TOTAL_NAMES.has(String(r.unit)))}
        place={["unit"]}
        columns={UNIT_COLUMNS}
        table="by_unit"
      />
    </>
  );
}

const PLACE_LABEL: Record<string, Key> = {
  district: "district",
  street: "street",
  community: "community",
  grid: "code",
  grid_name: "name",
  unit: "unit",
};

const COLUMNS: { field: string; label: Key; rate?: boolean }[] = [
  { field: "reported", label: "reported_n" },
  { field: "closed", label: "closed_n" },
  { field: "overdue_open", label: "overdue_open_n" },
  { field: "on_time_rate", label: "on_time_rate", rate: true },
  { field: "closure_rate", label: "closure_rate", rate: true },
  { field: "satisfaction_rate", label: "satisfaction_rate", rate: true },
];

/** What the by-unit table shows of a unit's work: its tickets, lateness, extensions and urgings. */
const UNIT_COLUMNS: typeof COLUMNS = [
  { field: "tickets", label: "tickets_n" },
  { field: "closed", label: "closed_n" },
  { field: "overdue_open", label: "overdue_open_n" },
  { field: "on_time_rate", label: "on_time_rate", rate: true },
  { field: "extensions_approved", label: "extensions_approved_n" },
  { field: "urged", label: "urged_n" },
];

function FigureTable({
  title,
  rows,
  place,
  columns = COLUMNS,
  table,
}: {
  title: string;
  rows: FigureRow[];
  place: string[];
  columns?: typeof COLUMNS;
  table?: string;
}) {
  return (
    <section class="panel" data-table={table}>
      <h2>{title}</h2>
      <table class="grid-table figures">
        <thead>
          <tr>
            {place.map((p) => (
              <th key={p}>{t(PLACE_LABEL[p] ?? "name")}</th>
            ))}
            {columns.map((c) => (
              <th key={c.field} class="num">
                {t(c.label)}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i}>
              {place.map((p) => (
                <td key={p} class={p === "grid" ? "mono" : undefined}>
                  {String(r[p] ?? "")}
                </td>
              ))}
              {columns.map((c) => (
                <td key={c.field} class="num">
                  {c.rate ? percent(r[c.field]) : String(r[c.field] ?? 0)}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

interface Week {
  start: number;
  reported: number;
  closed: number;
  onTime: number | null;
}

async function loadTrend(place: Query): Promise<Week[]> {
  const thisWeek = weekStart(Date.now());
  const starts = Array.from({ length: WEEKS }, (_, i) => thisWeek - (WEEKS - 1 - i) * 7 * 86_400_000);
  return Promise.all(
    starts.map(async (start) => {
      const f = await api.get<Figures>("/api/figures", {
        ...place,
        from: formatDay(start),
        to: formatDay(start + 6 * 86_400_000),
      });
      const total = totalOf(f);
      return {
        start,
        reported: Number(total.reported ?? 0),
        closed: Number(total.closed ?? 0),
        onTime: typeof total.on_time_rate === "number" ? total.on_time_rate : null,
      };
    }),
  );
}

function Trend({ place }: { place: Query }) {
  const weeks = useAsync(() => loadTrend(place), []);
  if (weeks.error) return <ErrorBox error={weeks.error} retry={weeks.reload} />;
  if (!weeks.data) return <Loading />;
  return <TrendChart weeks={weeks.data} />;
}

/** Bars: reported and closed per week (left axis); line: on-time rate (right axis, 0–100 %). */
export function TrendChart({ weeks }: { weeks: Week[] }) {
  const W = 880;
  const H = 260;
  const pad = { left: 48, right: 56, top: 20, bottom: 44 };
  const plotW = W - pad.left - pad.right;
  const plotH = H - pad.top - pad.bottom;
  const max = Math.max(1, ...weeks.map((w) => Math.max(w.reported, w.closed)));
  const step = niceStep(max);
  const top = Math.ceil(max / step) * step;
  const slot = plotW / weeks.length;
  const barW = Math.min(26, slot / 3);
  const y = (v: number) => pad.top + plotH - (v / top) * plotH;
  const yRate = (r: number) => pad.top + plotH - r * plotH;
  const ticks = Array.from({ length: Math.round(top / step) + 1 }, (_, i) => i * step);
  const line = weeks
    .map((w, i) => (w.onTime === null ? null : `${pad.left + slot * i + slot / 2},${yRate(w.onTime)}`))
    .filter(Boolean)
    .join(" ");
  return (
    <div class="trend">
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={t("weekly_trend", { n: weeks.length })}>
        {ticks.map((v) => (
          <g key={v}>
            <line x1={pad.left} x2={W - pad.right} y1={y(v)} y2={y(v)} class="grid-line" />
            <text x={pad.left - 8} y={y(v) + 4} text-anchor="end" class="axis">
              {v}
            </text>
          </g>
        ))}
        {[0, 0.5, 1].map((r) => (
          <text key={r} x={W - pad.right + 8} y={yRate(r) + 4} class="axis">
            {Math.round(r * 100)}%
          </text>
        ))}
        {weeks.map((w, i) => {
          const x = pad.left + slot * i + slot / 2;
          return (
            <g key={w.start}>
              <rect x={x - barW - 1} y={y(w.reported)} width={barW} height={pad.top + plotH - y(w.reported)} class="bar-reported">
                <title>{`${t("trend_reported")} ${w.reported}`}</title>
              </rect>
              <rect x={x + 1} y={y(w.closed)} width={barW} height={pad.top + plotH - y(w.closed)} class="bar-closed">
                <title>{`${t("trend_closed")} ${w.closed}`}</title>
              </rect>
              <text x={x} y={H - pad.bottom + 18} text-anchor="middle" class="axis">
                {formatDay(w.start).slice(5)}
              </text>
            </g>
          );
        })}
        {line && <polyline points={line} class="rate-line" />}
        {weeks.map((w, i) =>
          w.onTime === null ? null : (
            <circle key={w.start} cx={pad.left + slot * i + slot / 2} cy={yRate(w.onTime)} r={4} class="rate-dot">
              <title>{`${t("trend_on_time")} ${percent(w.onTime)}`}</title>
            </circle>
          ),
        )}
      </svg>
      <div class="trend-legend">
        <span>
          <i class="sw sw-reported" />
          {t("trend_reported")}
        </span>
        <span>
          <i class="sw sw-closed" />
          {t("trend_closed")}
        </span>
        <span>
          <i class="sw sw-rate" />
          {t("trend_on_time")}
        </span>
      </div>
    </div>
  );
}

function niceStep(max: number): number {
  const raw = max / 4;
  const magnitude = 10 ** Math.floor(Math.log10(raw || 1));
  for (const m of [1, 2, 5, 10]) if (m * magnitude >= raw) return Math.max(1, m * magnitude);
  return Math.max(1, 10 * magnitude);
}
