// 待办: what needs the dispatcher now. Counts come from /api/queues; the
// chosen queue's tickets from /api/tickets with that queue's filter. Both
// refresh when the event stream says a ticket in scope changed.

import { useMemo, useState } from "preact/hooks";
import { api, type Query } from "../api";
import { toMs } from "../format";
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
  /** Drops what the list filter cannot (due soon is open, dated and not yet overdue). */
  keep?: (s: Summary) => boolean;
}

const OPEN = ["reported", "accepted", "dispatched", "acknowledged", "returned", "in_progress", "handled", "verified", "suspended"];
/** The relay counts a ticket as due soon within a day of its deadline (api/tickets.rs `DUE_SOON_MS`). */
const DUE_SOON_MS = 86_400_000;

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
    query: { status: OPEN, sort: "due" },
    tone: "amber",
    keep: (s) => {
      const due = toMs(s.due_at);
      return !s.overdue && due !== null && due < Date.now() + DUE_SOON_MS;
    },
  },
  { name: "overdue", label: "q_overdue", hint: "q_hint_overdue", query: { overdue: true, sort: "due" }, tone: "red" },
  { name: "conflicts", label: "q_conflicts", hint: "q_hint_conflicts", query: { conflict: true }, tone: "rose" },
];

export function QueuesPage({ query }: { me: Me; query: URLSearchParams }) {
  const chosen = QUEUES.find((q) => q.name === query.get("queue")) ?? QUEUES[0]!;
  const counts = useAsync(() => api.get<Queues>("/api/queues"), []);
  const list = useAsync(
    () => api.get<Page<Summary>>("/api/tickets", { ...chosen.query, limit: 200 }),
    [chosen.name],
  );
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

  const items = (list.data?.items ?? []).filter(chosen.keep ?? (() => true));

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
      </section>
    </div>
  );
}
