// 待办: what needs the dispatcher now. Counts come from /api/queues; the
// chosen queue's tickets from /api/tickets with that queue's filter (the
// relay's own: the list holds what the card counts), a page at a time,
// more on demand. Both refresh when the event stream says a ticket in scope
// changed.

import { useMemo, useState } from "preact/hooks";
import { api, type Query } from "../api";
import { t, type Key } from "../i18n";
import { useTicketEvents } from "../live";
import { navigate } from "../router";
import type { Me, Page, Queues, Summary } from "../types";
import { debounce, ErrorBox, Loading, PageHeader, TicketTable, useAsync } from "../ui";

type QueueName = keyof Queues;

interface QueueDef {
  name: QueueName;
  label: Key;
  hint: Key;
  query: Query;
  tone: string;
}

/** Tickets a queue's list fetches at a time. */
export const QUEUE_PAGE = 50;

export const QUEUES: QueueDef[] = [
  { name: "to_accept", label: "q_to_accept", hint: "q_hint_to_accept", query: { status: ["reported"] }, tone: "blue" },
  {
    name: "to_dispatch",
    label: "q_to_dispatch",
    hint: "q_hint_to_dispatch",
    query: { status: ["accepted", "returned"] },
    tone: "teal",
  },
  { name: "to_verify", label: "q_to_verify", hint: "q_hint_to_verify", query: { status: ["handled"] }, tone: "purple" },
  {
    name: "due_soon",
    label: "q_due_soon",
    hint: "q_hint_due_soon",
    query: { due_soon: true, sort: "due" },
    tone: "amber",
  },
  { name: "overdue", label: "q_overdue", hint: "q_hint_overdue", query: { overdue: true, sort: "due" }, tone: "red" },
  { name: "conflicts", label: "q_conflicts", hint: "q_hint_conflicts", query: { conflict: true }, tone: "rose" },
];

/** The first `pages` pages of a queue's list, and whether there are more. */
async function firstPages(query: Query, pages: number): Promise<{ items: Summary[]; more: boolean }> {
  const items: Summary[] = [];
  let cursor: string | null = null;
  for (let n = 0; n < pages; n++) {
    const page: Page<Summary> = await api.get<Page<Summary>>("/api/tickets", { ...query, limit: QUEUE_PAGE, cursor });
    items.push(...page.items);
    cursor = page.next_cursor ?? null;
    if (cursor === null) break;
  }
  return { items, more: cursor !== null };
}

export function QueuesPage({ query }: { me: Me; query: URLSearchParams }) {
  const chosen = QUEUES.find((q) => q.name === query.get("queue")) ?? QUEUES[0]!;
  const counts = useAsync(() => api.get<Queues>("/api/queues"), []);
  // Pages shown of the chosen queue; a live refresh reloads them all.
  const [pages, setPages] = useState({ queue: chosen.name, n: 1 });
  const shown = pages.queue === chosen.name ? pages.n : 1;
  const list = useAsync(() => firstPages(chosen.query, shown), [chosen.name, shown]);
  const [fresh, setFresh] = useState<Set<string>>(new Set());
  const refresh = useMemo(
    () =>
      debounce(() => {
        counts.reload();
        list.reload();
      }, 250),
    [counts.reload, list.reload],
  );
  useTicketEvents(
    (s) => {
      setFresh((prev) => new Set(prev).add(s.id));
      refresh();
    },
    [refresh],
  );

  const items = list.data?.items ?? [];
  const total = counts.data ? counts.data[chosen.name] : null;

  return (
    <div>
      <PageHeader title={t("nav_queues")} />
      {counts.error ? <ErrorBox error={counts.error} retry={counts.reload} /> : null}
      <div class="queue-cards">
        {QUEUES.map((q) => (
          <button
            key={q.name}
            class={`queue-card tone-${q.tone}${q.name === chosen.name ? " chosen" : ""}`}
            data-queue={q.name}
            onClick={() => navigate(`/?queue=${q.name}`, true)}
          >
            <span class="queue-label">{t(q.label)}</span>
            <span class="queue-count" data-count={counts.data ? counts.data[q.name] : ""}>
              {counts.data ? counts.data[q.name] : "…"}
            </span>
            <span class="queue-hint">{t(q.hint)}</span>
          </button>
        ))}
      </div>
      <section class="panel" data-queue-list={chosen.name}>
        <h2>
          {t(chosen.label)}
          <span class="muted small"> · {t(chosen.hint)}</span>
        </h2>
        {list.error ? <ErrorBox error={list.error} retry={list.reload} /> : null}
        {list.loading && !list.data ? (
          <Loading />
        ) : items.length === 0 ? (
          <p class="empty">{t("queue_empty")}</p>
        ) : (
          <TicketTable items={items} highlight={fresh} />
        )}
        {items.length > 0 && (list.data?.more || (total !== null && total > items.length)) ? (
          <div class="pager" data-queue-more>
            <span class="muted">{t("queue_shown", { n: items.length, total: total ?? items.length })}</span>
            {list.data?.more ? (
              <button
                class="btn"
                disabled={list.loading}
                onClick={() => setPages({ queue: chosen.name, n: shown + 1 })}
              >
                {t("queue_more", { n: QUEUE_PAGE })}
              </button>
            ) : null}
          </div>
        ) : null}
      </section>
    </div>
  );
}
