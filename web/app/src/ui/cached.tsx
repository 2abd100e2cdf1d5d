// The list a cold start shows at once, from the copy `data/listing.ts`
// keeps, while Automerge's wasm compiles and the store opens; the same
// markup as the live list (`app.tsx`), marked as loading.

import { STATUS_ZH } from "../model/lifecycle.js";
import type { ListedTicket } from "../data/listing.js";
import type { Session } from "../data/session.js";

const fmt = (ms: number | null) => {
  if (ms === null) return "—";
  const d = new Date(ms + 8 * 3600_000).toISOString();
  return `${d.slice(5, 10)} ${d.slice(11, 16)}`;
};

export function CachedList({ session, rows }: { session: Session; rows: ListedTicket[] }) {
  return (
    <div class="shell">
      <header class="top">
        <span class="who">{session.user}</span>
        <span class="net off" data-testid="net">正在打开…</span>
      </header>
      <main class="body" data-testid="cached-list">
        <CachedRows rows={rows} />
      </main>
    </div>
  );
}

/** The rows of the kept list, as the live list draws them. */
export function CachedRows({ rows }: { rows: ListedTicket[] }) {
  return <ul class="tickets">{rows.map((t) => <CachedRow key={t.id} t={t} />)}</ul>;
}

/** One kept row: a ticket as the last session listed it. */
export function CachedRow({ t }: { t: ListedTicket }) {
  return (
    <li>
      <a class="ticket kept" href={`#/ticket/${t.id}`} data-ticket={t.id}>
        <span class="row1">
          <span class="title">{t.urgent && <b class="urgent">急</b>}{t.title || "（无标题）"}</span>
          <span class={`status s-${t.status}`}>{STATUS_ZH[t.status]}</span>
        </span>
        <span class="row2">
          <span>{t.category || "未分类"} · {fmt(t.created_at)}</span>
          <span class="marks">
            {t.unsaved && <span class="mark unsaved">未保存</span>}
            {t.unsynced && <span class="mark unsynced">未同步</span>}
            {t.overdue && <span class="mark overdue">超期</span>}
            {t.conflicts > 0 && <span class="mark conflict">冲突</span>}
          </span>
        </span>
      </a>
    </li>
  );
}
