// The ticket list: filters, search, sort and cursor paging over
// /api/tickets. The filters live in the address, so a link or a reload
// shows the same list. Changes from the event stream update the rows
// shown in place and count the rest, rather than moving rows under the
// reader's pointer.

import { useEffect, useState } from "preact/hooks";
import { api, type Query } from "../api";
import { STATUSES, statusLabel, t } from "../i18n";
import { useTicketEvents } from "../live";
import { navigate } from "../router";
import type { Me, Page, Summary } from "../types";
import { ErrorBox, Loading, PageHeader, TicketTable, useAsync } from "../ui";

const FIELDS = ["q", "status", "grid", "community", "street", "unit", "from", "to", "sort", "overdue", "conflict"] as const;
type Field = (typeof FIELDS)[number];
type Filters = Record<Field, string>;

function readFilters(query: URLSearchParams): Filters {
  const f = {} as Filters;
  for (const key of FIELDS) f[key] = query.get(key) ?? "";
  return f;
}

function toQuery(f: Filters): Query {
  const q: Query = {};
  for (const key of FIELDS) if (f[key]) q[key] = f[key];
  return q;
}

const PAGE = 50;

export function TicketsPage({ me, query }: { me: Me; query: URLSearchParams }) {
  const applied = readFilters(query);
  const appliedKey = JSON.stringify(applied);
  const [draft, setDraft] = useState<Filters>(applied);
  // Cursors of the pages before this one; the last is this page's.
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  useEffect(() => {
    setDraft(applied);
    setCursors([null]);
  }, [appliedKey]);
  const cursor = cursors[cursors.length - 1] ?? null;
  const page = useAsync(
    () => api.get<Page<Summary>>("/api/tickets", { ...toQuery(applied), limit: PAGE, cursor }),
    [appliedKey, cursor],
  );
  const [rows, setRows] = useState<Summary[]>([]);
  const [pending, setPending] = useState(0);
  useEffect(() => {
    setRows(page.data?.items ?? []);
    setPending(0);
  }, [page.data]);
  useTicketEvents((s) => {
    let shown = false;
    setRows((prev) =>
      prev.map((r) => {
        if (r.id !== s.id) return r;
        shown = true;
        return s;
      }),
    );
    if (!shown) setPending((n) => n + 1);
  });

  const apply = (event?: Event) => {
    event?.preventDefault();
    const params = new URLSearchParams();
    for (const key of FIELDS) if (draft[key]) params.set(key, draft[key]);
    const text = params.toString();
    navigate(`/tickets${text ? `?${text}` : ""}`);
  };
  const set = (key: Field) => (e: Event) =>
    setDraft({ ...draft, [key]: (e.currentTarget as HTMLInputElement).value });
  const setCheck = (key: Field) => (e: Event) =>
    setDraft({ ...draft, [key]: (e.currentTarget as HTMLInputElement).checked ? "true" : "" });

  return (
    <div>
      <PageHeader title={t("nav_tickets")} />
      <form class="filters panel" onSubmit={apply}>
        <input
          class="search"
          type="search"
          name="q"
          placeholder={t("filter_search")}
          value={draft.q}
          onInput={set("q")}
        />
        <label class="field-inline">
          <span>{t("filter_status")}</span>
          <select name="status" value={draft.status} onChange={set("status")}>
            <option value="">{t("filter_all")}</option>
            <option value="reported,accepted,dispatched,acknowledged,returned,in_progress,handled,verified,suspended">
              {t("filter_open")}
            </option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {statusLabel(s)}
              </option>
            ))}
          </select>
        </label>
        {me.role !== "unit" && (
          <>
            <label class="field-inline">
              <span>{t("filter_grid")}</span>
              <input name="grid" value={draft.grid} onInput={set("grid")} list="my-grids" size={10} />
              <datalist id="my-grids">
                {me.grids.map((g) => (
                  <option key={g} value={g} />
                ))}
              </datalist>
            </label>
            <label class="field-inline">
              <span>{t("filter_community")}</span>
              <input name="community" value={draft.community} onInput={set("community")} size={8} />
            </label>
            <label class="field-inline">
              <span>{t("filter_street")}</span>
              <input name="street" value={draft.street} onInput={set("street")} size={8} />
            </label>
            <label class="field-inline">
              <span>{t("filter_unit")}</span>
              <input name="unit" value={draft.unit} onInput={set("unit")} size={8} />
            </label>
          </>
        )}
        <label class="field-inline">
          <span>{t("filter_from")}</span>
          <input type="date" name="from" value={draft.from} onInput={set("from")} />
        </label>
        <label class="field-inline">
          <span>{t("filter_to")}</span>
          <input type="date" name="to" value={draft.to} onInput={set("to")} />
        </label>
        <label class="check">
          <input type="checkbox" name="overdue" checked={draft.overdue === "true"} onChange={setCheck("overdue")} />
          {t("filter_overdue")}
        </label>
        <label class="check">
          <input type="checkbox" name="conflict" checked={draft.conflict === "true"} onChange={setCheck("conflict")} />
          {t("filter_conflict")}
        </label>
        <label class="field-inline">
          <span>{t("sort")}</span>
          <select name="sort" value={draft.sort} onChange={set("sort")}>
            <option value="">{t("sort_updated")}</option>
            <option value="reported">{t("sort_reported")}</option>
            <option value="due">{t("sort_due")}</option>
          </select>
        </label>
        <button class="btn btn-primary" type="submit">
          {t("filter_apply")}
        </button>
        <button class="btn" type="button" onClick={() => navigate("/tickets")}>
          {t("filter_reset")}
        </button>
      </form>
      {pending > 0 && (
        <button class="notice" onClick={page.reload}>
          {t("new_changes", { n: pending })}
        </button>
      )}
      <section class="panel">
        {page.error ? <ErrorBox error={page.error} retry={page.reload} /> : null}
        {page.loading && !page.data ? (
          <Loading />
        ) : rows.length === 0 ? (
          <p class="empty">{t("no_tickets")}</p>
        ) : (
          <TicketTable items={rows} />
        )}
        <div class="pager">
          <button class="btn" disabled={cursors.length <= 1} onClick={() => setCursors(cursors.slice(0, -1))}>
            {t("page_prev")}
          </button>
          <span class="muted">{t("page_n", { n: cursors.length })}</span>
          <button
            class="btn"
            disabled={!page.data?.next_cursor}
            onClick={() => page.data?.next_cursor && setCursors([...cursors, page.data.next_cursor])}
          >
            {t("page_next")}
          </button>
        </div>
      </section>
    </div>
  );
}
