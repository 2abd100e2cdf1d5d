// Pieces every page uses: links, status badges, the ticket table, loading
// and error states.

import type { ComponentChildren } from "preact";
import { useCallback, useEffect, useState } from "preact/hooks";
import { ApiError } from "./api";
import { formatTime, shortId } from "./format";
import { statusLabel, t } from "./i18n";
import { BASE, follow } from "./router";
import type { Summary } from "./types";

export function Link(props: { to: string; class?: string; children: ComponentChildren; title?: string }) {
  return (
    <a href={BASE + props.to} class={props.class} title={props.title} onClick={(e) => follow(e, props.to)}>
      {props.children}
    </a>
  );
}

export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge status-${status}`}>{statusLabel(status)}</span>;
}

export function Tags({ s }: { s: Summary }) {
  return (
    <>
      {s.urgency === "urgent" && <span class="tag tag-urgent">{t("urgent")}</span>}
      {s.overdue && <span class="tag tag-overdue">{t("overdue_tag")}</span>}
      {s.conflicts > 0 && (
        <span class="tag tag-conflict">
          {t("conflict_tag")} {s.conflicts}
        </span>
      )}
      {(s.photos?.length ?? 0) > 0 && (
        <span class="tag tag-photos" data-photos={s.photos?.length}>
          {t("photos_n", { n: s.photos?.length ?? 0 })}
        </span>
      )}
      {s.rework_count > 0 && (
        <span class="tag tag-rework">
          {t("rework_tag")} {s.rework_count}
        </span>
      )}
    </>
  );
}

export function TicketTable({ items, highlight }: { items: Summary[]; highlight?: Set<string> }) {
  return (
    <table class="grid-table tickets">
      <thead>
        <tr>
          <th>{t("col_title")}</th>
          <th>{t("col_status")}</th>
          <th>{t("col_grid")}</th>
          <th>{t("col_category")}</th>
          <th>{t("col_unit")}</th>
          <th>{t("col_due")}</th>
          <th>{t("col_reported")}</th>
          <th>{t("col_reporter")}</th>
          <th>{t("col_id")}</th>
        </tr>
      </thead>
      <tbody>
        {items.map((s) => (
          <tr key={s.id} data-ticket={s.id} class={highlight?.has(s.id) ? "fresh" : undefined}>
            <td class="title-cell">
              <Link to={`/tickets/${s.id}`}>{s.title || t("none")}</Link>
              <Tags s={s} />
            </td>
            <td>
              <StatusBadge status={s.status} />
            </td>
            <td class="mono">{s.grid}</td>
            <td class="mono">{s.category || t("none")}</td>
            <td>{s.unit ?? t("none")}</td>
            <td class={s.overdue ? "overdue-text" : undefined}>{formatTime(s.due_at)}</td>
            <td>{formatTime(s.reported_at)}</td>
            <td>{s.created_by}</td>
            <td class="mono muted" title={s.id}>
              {shortId(s.id)}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Loading() {
  return <div class="loading">{t("loading")}</div>;
}

export function errorText(error: unknown): string {
  if (error instanceof ApiError) {
    if (error.status === 403 && !error.message) return t("forbidden");
    return error.message;
  }
  return String(error);
}

export function ErrorBox({ error, retry }: { error: unknown; retry?: () => void }) {
  return (
    <div class="error-box" role="alert">
      <strong>{t("error")}：</strong>
      {errorText(error)}
      {retry && (
        <button class="btn btn-small" onClick={retry}>
          {t("retry")}
        </button>
      )}
    </div>
  );
}

export interface Async<T> {
  data: T | null;
  error: unknown;
  loading: boolean;
  reload: () => void;
}

/** Runs `load` when `deps` change; `reload()` runs it again, keeping the old data shown meanwhile. */
export function useAsync<T>(load: () => Promise<T>, deps: unknown[]): Async<T> {
  const [state, setState] = useState<{ data: T | null; error: unknown; loading: boolean }>({
    data: null,
    error: null,
    loading: true,
  });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setState((s) => ({ ...s, loading: true }));
    load().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (error) => live && setState((s) => ({ data: s.data, error, loading: false })),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  return { ...state, reload };
}

/** Calls `f` at most once per `ms`, trailing. */
export function debounce(f: () => void, ms: number): () => void {
  let timer: ReturnType<typeof setTimeout> | null = null;
  return () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      f();
    }, ms);
  };
}

export function PageHeader({ title, children }: { title: string; children?: ComponentChildren }) {
  return (
    <div class="page-header">
      <h1>{title}</h1>
      <div class="page-tools">{children}</div>
    </div>
  );
}
