// The field app's screens: 工单 (the grid's tickets), 上报 (report), 走访
// (visits and patrol check-ins), 我的 (account and sync), and a ticket's
// detail. Sized for a 360×640 phone: one column, touch targets of 48 px
// and more, Chinese throughout.

import { useEffect, useMemo, useState } from "preact/hooks";
import type { ComponentChildren } from "preact";
import { memo } from "preact/compat";
import {
  KINDS, KIND_ZH, OUTCOMES, OUTCOME_ZH, SOURCES, SOURCE_ZH, type Kind, type Outcome, type Source, type Urgency,
  type VisitType, VISIT_ZH,
} from "../model/docs.js";
import { type Action, STATUS_ZH, type Status, STATUSES, reasonText } from "../model/lifecycle.js";
import { type Session, forgetSession, login } from "../data/session.js";
import { type ListedTicket, forgetListing } from "../data/listing.js";
import { CachedRow } from "./cached.js";
import { SaveError, type Store, type TicketView, localDate } from "../data/store.js";
import { deletePhotoDb } from "../data/photos.js";
import { PhotoCount, PhotoPicker, PhotoStrip, PhotoTrouble } from "./photos.js";

export const ACTION_ZH: Record<string, string> = {
  reported: "上报", accepted: "立案", invalid: "注销", dispatched: "派遣", acknowledged: "签收",
  returned: "退单", in_progress: "开始处置", handled: "处置完成", verified: "核查通过", rework: "返工",
  closed: "结案", reopened: "重新打开", suspended: "挂账", resumed: "恢复", rated: "回访评价",
  extension_requested: "申请延期", extension_approved: "同意延期", extension_refused: "驳回延期", urged: "督办",
};
const ROLE_ZH: Record<string, string> = { worker: "网格员", supervisor: "调度员", unit: "处置单位", reviewer: "审阅", admin: "管理员" };
/** What `navigator.storage.persist()` answered, and what it means for field work. */
const PERSIST_ZH: Record<string, string> = {
  true: "已获持久保存：浏览器不会因空间不足自动清除本机记录",
  false: "未获持久保存：手机空间不足时浏览器可能清除本机记录，请尽快联网同步（添加到主屏幕后更易获准）",
  null: "正在申请持久保存…（此浏览器可能不支持）",
};
const NEEDS_NOTE: Action[] = ["returned", "rework", "extension_requested"];

const fmt = (ms: number | null) => {
  if (ms === null) return "—";
  const d = new Date(ms + 8 * 3600_000).toISOString();
  return `${d.slice(5, 10)} ${d.slice(11, 16)}`;
};

function useRoute(): string {
  const [route, setRoute] = useState(location.hash.slice(1) || "/list");
  useEffect(() => {
    const on = () => {
      setRoute(location.hash.slice(1) || "/list");
      scrollTo(0, 0);
    };
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

const go = (r: string) => {
  location.hash = r;
};

/** Re-renders whenever the store changes. */
function useStore(store: Store): number {
  const [n, setN] = useState(0);
  useEffect(() => {
    const on = () => setN((x) => x + 1);
    store.addEventListener("change", on);
    return () => store.removeEventListener("change", on);
  }, [store]);
  return n;
}

export function Login({ onIn }: { onIn: (s: Session) => void }) {
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  return (
    <main class="login">
      <h1>网格通 · 外勤</h1>
      <p class="hint">首次登录需要联网；登录后无网络也可上报、走访。</p>
      <form
        onSubmit={async (e) => {
          e.preventDefault();
          setBusy(true);
          setError(null);
          try {
            onIn(await login(user.trim(), password));
          } catch (err) {
            setError((err as Error).message);
          } finally {
            setBusy(false);
          }
        }}
      >
        <label>用户名<input name="user" autocomplete="username" value={user} onInput={(e) => setUser(e.currentTarget.value)} required /></label>
        <label>密码<input name="password" type="password" autocomplete="current-password" value={password} onInput={(e) => setPassword(e.currentTarget.value)} required /></label>
        {error && <p class="error" role="alert">{error}</p>}
        <button type="submit" class="primary" disabled={busy}>{busy ? "登录中…" : "登录"}</button>
      </form>
    </main>
  );
}

export function Shell({ store, onOut }: { store: Store; onOut: () => void }) {
  useStore(store);
  const route = useRoute();
  const s = store.session;
  const unsynced = store.unsyncedCount();
  let body: ComponentChildren;
  if (route.startsWith("/ticket/")) body = <TicketDetail store={store} id={route.slice(8)} />;
  else if (route === "/report" && s.role !== "unit") body = <Report store={store} />;
  else if (route === "/visits" && s.role !== "unit") body = <Visits store={store} />;
  else if (route === "/me") body = <Me store={store} onOut={onOut} />;
  else body = <TicketList store={store} />;
  const tabs: [string, string][] = s.role === "unit"
    ? [["/list", "工单"], ["/me", "我的"]]
    : [["/list", "工单"], ["/report", "上报"], ["/visits", "走访"], ["/me", "我的"]];
  return (
    <div class="shell">
      <header class="top">
        <span class="who">{s.user} · {ROLE_ZH[s.role] ?? s.role}</span>
        <span class={store.online ? "net on" : "net off"} data-testid="net">{store.online ? "在线" : "离线"}</span>
        <span class={unsynced ? "pending has" : "pending"} data-testid="unsynced">{unsynced ? `${unsynced} 项未同步` : "已全部同步"}</span>
        <PhotoCount store={store} />
      </header>
      {store.error && (
        <div class="error banner" role="alert" data-testid="storage-error">
          <p>{store.error}</p>
          {store.unsavedCount() > 0 && <RetrySave store={store} />}
        </div>
      )}
      <PhotoTrouble store={store} />
      <main class="body">{body}</main>
      <nav class="tabs">
        {tabs.map(([r, label]) => (
          <a href={`#${r}`} class={route === r || (r === "/list" && route.startsWith("/ticket/")) ? "tab on" : "tab"}>{label}</a>
        ))}
      </nav>
    </div>
  );
}

/** Saves again what a failed write left in memory. */
function RetrySave({ store, then }: { store: Store; then?: () => void }) {
  const [busy, setBusy] = useState(false);
  return (
    <button class="big" data-testid="retry-save" disabled={busy} onClick={async () => {
      setBusy(true);
      try {
        await store.retrySave();
        then?.();
      } catch {
        // The banner says why.
      } finally {
        setBusy(false);
      }
    }}>{busy ? "正在保存…" : `重试保存（${store.unsavedCount()} 项）`}</button>
  );
}

type Filter = "all" | "todo" | "overdue" | "conflict" | "unsynced";

function TicketList({ store }: { store: Store }) {
  const [filter, setFilter] = useState<Filter>("all");
  const [status, setStatus] = useState<Status | "">("");
  const all = store.tickets();
  const shown = all.filter((v) => {
    if (status && v.ticket.state.status !== status) return false;
    switch (filter) {
      case "todo": return store.actions(v).length > 0;
      case "overdue": return v.overdue;
      case "conflict": return v.ticket.state.conflicts.length > 0;
      case "unsynced": return v.unsynced;
      default: return true;
    }
  });
  const catalog = store.catalog();
  // Tickets not open yet (a cold start opens them in the background): their rows as the list last showed them.
  const kept = store.keptOnly().filter((r: ListedTicket) => {
    if (status && r.status !== status) return false;
    switch (filter) {
      case "todo": return store.actionsAt(r.status).length > 0;
      case "overdue": return r.overdue;
      case "conflict": return r.conflicts > 0;
      case "unsynced": return r.unsynced;
      default: return true;
    }
  });
  const rows: { at: number; row: ComponentChildren }[] = [
    ...shown.map((v) => ({ at: v.ticket.created_at ?? 0, row: <TicketRow key={v.ticket.id} store={store} v={v} catalog={catalog} /> })),
    ...kept.map((r) => ({ at: r.created_at ?? 0, row: <CachedRow key={r.id} t={r} /> })),
  ];
  if (kept.length > 0) rows.sort((a, b) => b.at - a.at);
  const chips: [Filter, string][] = [["all", "全部"], ["todo", "待我处理"], ["overdue", "超期"], ["conflict", "冲突"], ["unsynced", "未同步"]];
  return (
    <section>
      <div class="chips">
        {chips.map(([f, label]) => (
          <button class={filter === f ? "chip on" : "chip"} onClick={() => setFilter(f)}>{label}</button>
        ))}
      </div>
      <select class="status-filter" aria-label="状态" value={status} onChange={(e) => setStatus(e.currentTarget.value as Status | "")}>
        <option value="">全部状态</option>
        {STATUSES.map((s) => <option value={s}>{STATUS_ZH[s]}</option>)}
      </select>
      {rows.length === 0 && <p class="empty">{all.length === 0 ? "本网格还没有工单" : "没有符合条件的工单"}</p>}
      <ul class="tickets">{rows.map((r) => r.row)}</ul>
    </section>
  );
}

function Marks({ v }: { v: TicketView }) {
  return (
    <span class="marks">
      {v.unsaved && <span class="mark unsaved">未保存</span>}
      {v.unsynced && <span class="mark unsynced">未同步</span>}
      {v.overdue && <span class="mark overdue">超期</span>}
      {v.ticket.state.conflicts.length > 0 && <span class="mark conflict">冲突</span>}
    </span>
  );
}

/**
 * A row, drawn again only when what it shows changed: a change to one
 * document re-renders the list, not 500 rows (the fold keeps each
 * ticket's read while its document stays).
 */
const TicketRow = memo(TicketRowOf, (a, b) =>
  a.store === b.store && a.v.ticket === b.v.ticket && a.v.unsynced === b.v.unsynced && a.v.unsaved === b.v.unsaved
  && a.v.overdue === b.v.overdue && a.catalog === b.catalog);

function TicketRowOf({ store, v }: { store: Store; v: TicketView; catalog: unknown }) {
  const t = v.ticket;
  const cat = store.catalog()?.categories[t.category];
  const status = t.state.status ?? "reported";
  return (
    <li>
      <a class="ticket" href={`#/ticket/${t.id}`} data-ticket={t.id}>
        <span class="row1">
          <span class="title">{t.urgency === "urgent" && <b class="urgent">急</b>}{t.title || "（无标题）"}</span>
          <span class={`status s-${status}`}>{STATUS_ZH[status]}</span>
        </span>
        <span class="row2">
          <span>{cat ? cat.name_zh : t.category || "未分类"} · {fmt(t.created_at)}</span>
          <Marks v={v} />
        </span>
      </a>
    </li>
  );
}

function TicketDetail({ store, id }: { store: Store; id: string }) {
  const v = store.ticket(id);
  const [note, setNote] = useState("");
  const [due, setDue] = useState("");
  const [comment, setComment] = useState("");
  const [pick, setPick] = useState<Action | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [after, setAfter] = useState<string[]>([]);
  if (!v) return <p class="empty">{store.loaded ? "本机还没有这张工单（可能尚未同步到本机）。" : "正在打开这张工单…"}</p>;
  const t = v.ticket;
  const status = t.state.status ?? "reported";
  const cat = store.catalog()?.categories[t.category];
  const contact = store.contact(v);
  const run = async (a: Action) => {
    setError(null);
    if (NEEDS_NOTE.includes(a) && pick !== a) {
      setPick(a);
      return;
    }
    try {
      const dueAt = due ? new Date(`${due}T18:00:00+08:00`).getTime() : undefined;
      await store.act(t.id, a, { note, due_at: dueAt, photos: a === "handled" ? after : undefined });
      setPick(null);
      setNote("");
      if (a === "handled") setAfter([]);
    } catch (e) {
      setError(e instanceof SaveError ? e.message : String(e));
    }
  };
  return (
    <article class="detail">
      <h2>{t.title || "（无标题）"}</h2>
      <p><span class={`status s-${status}`} data-testid="status">{STATUS_ZH[status]}</span> <Marks v={v} /></p>
      <dl>
        <dt>分类</dt><dd>{cat ? `${cat.code} ${cat.name_zh}` : t.category || "—"}</dd>
        <dt>类型</dt><dd>{t.kind ? KIND_ZH[t.kind] : "—"} · {t.urgency === "urgent" ? "紧急" : "一般"} · {t.source ? SOURCE_ZH[t.source] : "—"}</dd>
        <dt>描述</dt><dd>{t.description || "—"}</dd>
        <dt>地点</dt><dd>{t.location ? `${t.location.lat.toFixed(5)}, ${t.location.lon.toFixed(5)}${t.location.accuracy_m !== null ? ` ±${Math.round(t.location.accuracy_m)}米` : "（精度未知）"}` : "—"}</dd>
        <dt>地址</dt><dd>{t.location?.address ?? "—"}</dd>
        <dt>上报</dt><dd>{t.created_by} · {fmt(t.created_at)}</dd>
        {contact && <><dt>居民</dt><dd data-testid="contact">{[contact.name, contact.phone].filter(Boolean).join(" · ")}</dd></>}
        {t.state.unit && <><dt>处置单位</dt><dd data-testid="unit">{t.state.unit}</dd></>}
        {t.state.due_at !== null && <><dt>处置期限</dt><dd>{fmt(t.state.due_at)}</dd></>}
        {t.state.rework_count > 0 && <><dt>返工</dt><dd>{t.state.rework_count} 次</dd></>}
        {t.state.extension && <><dt>延期申请</dt><dd>待审批：{t.state.extension.reason}（至 {fmt(t.state.extension.proposed_due_at)}）</dd></>}
      </dl>
      <PhotoStrip store={store} photos={t.photos} />
      {t.state.conflicts.length > 0 && (
        <section class="conflicts" data-testid="conflicts">
          <h3>冲突（{t.state.conflicts.length}）</h3>
          <p class="hint">以下操作与其他设备的离线操作冲突，已保留但未生效，请调度员处理。</p>
          <ul>
            {t.state.conflicts.map((c) => (
              <li>{c.action ? ACTION_ZH[c.action] ?? c.action : "无法读取的记录"}{c.actor ? `（${c.actor}）` : ""}：{reasonText(c.reason)}</li>
            ))}
          </ul>
        </section>
      )}
      {store.actions(v).length > 0 && (
        <section class="actions">
          <h3>操作</h3>
          {pick && (
            <div class="reason">
              <label>{pick === "extension_requested" ? "延期原因" : pick === "returned" ? "退单原因" : "返工原因"}
                <textarea name="note" value={note} onInput={(e) => setNote(e.currentTarget.value)} />
              </label>
              {pick === "extension_requested" && (
                <label>申请延至<input type="date" name="due" value={due} onInput={(e) => setDue(e.currentTarget.value)} /></label>
              )}
            </div>
          )}
          {store.actions(v).includes("handled") && <PhotoPicker store={store} phase="after" value={after} onChange={setAfter} />}
          <div class="buttons">
            {store.actions(v).map((a) => (
              <button class={pick === a ? "primary" : "big"} data-action={a} onClick={() => run(a)}>{pick === a ? `确认${ACTION_ZH[a]}` : ACTION_ZH[a]}</button>
            ))}
          </div>
          {error && <p class="error" role="alert">{error}</p>}
        </section>
      )}
      <section class="timeline">
        <h3>处理记录</h3>
        <ol>
          {t.events.map((e, i) => {
            if ("err" in e) return <li class="bad">无法读取：{e.err}</li>;
            const ev = e.ok;
            const applied = t.state.applied.includes(i);
            return (
              <li class={applied ? "" : "bad"}>
                <b>{ACTION_ZH[ev.to] ?? ev.to}</b> {ev.actor} · {fmt(ev.at_device)}{!applied && "（未生效）"}
                {ev.unit && <span> → {ev.unit}</span>}
                {ev.note && <div class="note">{ev.note}</div>}
              </li>
            );
          })}
        </ol>
      </section>
      <section class="comments">
        <h3>留言</h3>
        <ul>{t.comments.map((c) => <li><b>{c.author}</b> {fmt(c.at)}<div>{c.text}</div></li>)}</ul>
        <textarea name="comment" placeholder="写留言…" value={comment} onInput={(e) => setComment(e.currentTarget.value)} />
        <button class="big" onClick={async () => {
          try {
            await store.comment(t.id, comment);
            setComment("");
          } catch (e) {
            setError((e as Error).message);
          }
        }}>发送留言</button>
      </section>
    </article>
  );
}

interface Fix { lat: number; lon: number; accuracy: number | null }

function locate(): Promise<Fix> {
  return new Promise((ok, fail) => {
    if (!navigator.geolocation) return fail(new Error("此设备不支持定位"));
    navigator.geolocation.getCurrentPosition(
      (p) => ok({ lat: p.coords.latitude, lon: p.coords.longitude, accuracy: p.coords.accuracy }),
      (e) => fail(new Error(e.code === 1 ? "未允许定位：请在浏览器设置中允许" : "定位失败，请到开阔处重试或手动移动定位点")),
      { enableHighAccuracy: true, timeout: 15_000, maximumAge: 30_000 },
    );
  });
}

/** Poor GPS: this accuracy or worse offers the pin. */
const POOR_M = 30;
/** The pin view covers this many metres across. */
const SPAN_M = 200;

/** A pin to move by hand on a metre grid around a fix (no map tiles offline). */
function PinGrid({ centre, pin, onMove }: { centre: Fix; pin: Fix; onMove: (f: Fix) => void }) {
  const mPerLat = 111_320;
  const mPerLon = 111_320 * Math.cos((centre.lat * Math.PI) / 180);
  const x = 120 + ((pin.lon - centre.lon) * mPerLon * 240) / SPAN_M;
  const y = 120 - ((pin.lat - centre.lat) * mPerLat * 240) / SPAN_M;
  const lines = [];
  for (let i = 0; i <= 240; i += 24) {
    lines.push(<line x1={i} y1={0} x2={i} y2={240} />, <line x1={0} y1={i} x2={240} y2={i} />);
  }
  return (
    <svg class="pin-grid" viewBox="0 0 240 240" data-testid="pin-grid" onClick={(e) => {
      const r = (e.currentTarget as SVGElement).getBoundingClientRect();
      const px = ((e.clientX - r.left) * 240) / r.width;
      const py = ((e.clientY - r.top) * 240) / r.height;
      onMove({
        lat: centre.lat + ((120 - py) * SPAN_M) / 240 / mPerLat,
        lon: centre.lon + ((px - 120) * SPAN_M) / 240 / mPerLon,
        accuracy: null,
      });
    }}>
      <g class="grid-lines">{lines}</g>
      {centre.accuracy !== null && <circle class="acc" cx={120} cy={120} r={Math.min(120, (centre.accuracy * 240) / SPAN_M)} />}
      <circle class="gps" cx={120} cy={120} r={4} />
      <path class="pin" d={`M${x} ${y} l-9 -20 a10 10 0 1 1 18 0 z`} />
    </svg>
  );
}

function Report({ store }: { store: Store }) {
  const s = store.session;
  const catalog = store.catalog();
  const categories = useMemo(() => Object.values(catalog?.categories ?? {}), [catalog]);
  const [grid, setGrid] = useState(s.grids[0] ?? "");
  const [category, setCategory] = useState("");
  const [kind, setKind] = useState<Kind>("event");
  const [urgency, setUrgency] = useState<Urgency>("normal");
  const [source, setSource] = useState<Source>("patrol");
  const [title, setTitle] = useState("");
  const [description, setDescription] = useState("");
  const [address, setAddress] = useState("");
  const [residentName, setResidentName] = useState("");
  const [residentPhone, setResidentPhone] = useState("");
  /** A report made but not saved (IndexedDB refused it): retried, never made twice. */
  const [unsavedId, setUnsavedId] = useState<string | null>(null);
  const [fix, setFix] = useState<Fix | null>(null);
  const [pin, setPin] = useState<Fix | null>(null);
  const [gpsError, setGpsError] = useState<string | null>(null);
  const [dups, setDups] = useState<{ view: TicketView; metres: number }[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const [photos, setPhotos] = useState<string[]>([]);
  const where = pin ?? fix;
  const poor = fix !== null && (fix.accuracy === null || fix.accuracy > POOR_M);

  const save = async (confirmed: boolean) => {
    setError(null);
    if (!title.trim()) return setError("请填写标题");
    if (!category) return setError("请选择分类");
    if (!grid) return setError("没有可上报的网格");
    if (!confirmed && where) {
      const near = store.duplicates(category, where);
      if (near.length > 0) return setDups(near);
    }
    setBusy(true);
    try {
      const id = await store.report({
        grid, source, kind, category, urgency, title: title.trim(), description: description.trim(),
        location: where ? { lat: where.lat, lon: where.lon, accuracy_m: where.accuracy, address: address.trim() || null } : null,
        resident: { name: residentName.trim() || null, phone: residentPhone.trim() || null }, photos,
      });
      go(`/ticket/${id}`);
    } catch (e) {
      if (e instanceof SaveError && e.ticket) setUnsavedId(e.ticket);
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  if (dups) {
    return (
      <section class="dups" data-testid="duplicates">
        <h2>附近可能有重复工单</h2>
        <p class="hint">50 米内已有同类未结案工单，请先确认是否为同一问题。</p>
        <ul class="tickets">
          {dups.map((d) => (
            <li><a class="ticket" href={`#/ticket/${d.view.ticket.id}`}>
              <span class="row1"><span class="title">{d.view.ticket.title}</span><span class="status">{STATUS_ZH[d.view.ticket.state.status ?? "reported"]}</span></span>
              <span class="row2"><span>约 {Math.round(d.metres)} 米 · {fmt(d.view.ticket.created_at)}</span></span>
            </a></li>
          ))}
        </ul>
        <div class="buttons">
          <button class="big" onClick={() => setDups(null)}>返回修改</button>
          <button class="primary" data-testid="report-anyway" onClick={() => { setDups(null); void save(true); }}>不是重复，仍然上报</button>
        </div>
      </section>
    );
  }

  return (
    <form class="report" onSubmit={(e) => { e.preventDefault(); void save(false); }}>
      <h2>上报问题</h2>
      {s.grids.length > 1 && (
        <label>网格<select name="grid" value={grid} onChange={(e) => setGrid(e.currentTarget.value)}>{s.grids.map((g) => <option value={g}>{g}</option>)}</select></label>
      )}
      <label>分类
        {categories.length > 0 ? (
          <select name="category" value={category} onChange={(e) => {
            const code = e.currentTarget.value;
            setCategory(code);
            const c = catalog?.categories[code];
            if (c) setKind(c.kind);
          }}>
            <option value="">请选择</option>
            {categories.map((c) => <option value={c.code}>{c.code} {c.name_zh}</option>)}
          </select>
        ) : (
          <input name="category" placeholder="分类编码（尚未收到分类表）" value={category} onInput={(e) => setCategory(e.currentTarget.value.trim())} />
        )}
      </label>
      <label>类型<select name="kind" value={kind} onChange={(e) => setKind(e.currentTarget.value as Kind)}>{KINDS.map((k) => <option value={k}>{KIND_ZH[k]}</option>)}</select></label>
      <fieldset class="seg"><legend>紧急程度</legend>
        {(["normal", "urgent"] as Urgency[]).map((u) => (
          <label class={urgency === u ? "on" : ""}><input type="radio" name="urgency" value={u} checked={urgency === u} onChange={() => setUrgency(u)} />{u === "urgent" ? "紧急" : "一般"}</label>
        ))}
      </fieldset>
      <label>来源<select name="source" value={source} onChange={(e) => setSource(e.currentTarget.value as Source)}>{SOURCES.map((k) => <option value={k}>{SOURCE_ZH[k]}</option>)}</select></label>
      <label>标题<input name="title" value={title} onInput={(e) => setTitle(e.currentTarget.value)} /></label>
      <label>描述<textarea name="description" value={description} onInput={(e) => setDescription(e.currentTarget.value)} /></label>
      <div class="gps">
        <button type="button" class="big" data-testid="locate" onClick={async () => {
          setGpsError(null);
          try {
            const f = await locate();
            setFix(f);
            setPin(null);
          } catch (e) {
            setGpsError((e as Error).message);
          }
        }}>获取定位</button>
        {where && (
          <p data-testid="fix">{where.lat.toFixed(5)}, {where.lon.toFixed(5)} {pin ? "（已手动调整）" : fix?.accuracy != null ? `精度 ±${Math.round(fix.accuracy)} 米` : ""}</p>
        )}
        {gpsError && <p class="error">{gpsError}</p>}
        {fix && poor && (
          <>
            <p class="hint">GPS 精度较差，请在下图中点按实际位置（每格 20 米）。</p>
            <PinGrid centre={fix} pin={pin ?? fix} onMove={setPin} />
          </>
        )}
      </div>
      <label>地址<input name="address" placeholder="例如：幸福路12号门口" value={address} onInput={(e) => setAddress(e.currentTarget.value)} /></label>
      <PhotoPicker store={store} phase="before" value={photos} onChange={setPhotos} />
      <fieldset class="resident"><legend>居民联系方式（选填）</legend>
        <p class="hint">仅调度员和上报人可见，处置单位看不到。</p>
        <label>姓名<input name="resident_name" autocomplete="off" value={residentName} onInput={(e) => setResidentName(e.currentTarget.value)} /></label>
        <label>电话<input name="resident_phone" type="tel" inputMode="tel" autocomplete="off" value={residentPhone} onInput={(e) => setResidentPhone(e.currentTarget.value)} /></label>
      </fieldset>
      {error && <p class="error" role="alert" data-testid="report-error">{error}</p>}
      {unsavedId ? (
        <RetrySave store={store} then={() => go(`/ticket/${unsavedId}`)} />
      ) : (
        <button type="submit" class="primary" disabled={busy}>保存上报</button>
      )}
    </form>
  );
}

function Visits({ store }: { store: Store }) {
  const s = store.session;
  const [type, setType] = useState<VisitType>("household");
  const [grid, setGrid] = useState(s.grids[0] ?? "");
  const [building, setBuilding] = useState("");
  const [unit, setUnit] = useState("");
  const [room, setRoom] = useState("");
  const [outcome, setOutcome] = useState<Outcome>("met");
  const [notes, setNotes] = useState("");
  const [fix, setFix] = useState<Fix | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [saved, setSaved] = useState<string | null>(null);
  const today = store.visitsOn(localDate(Date.now()));
  const save = async () => {
    setError(null);
    setSaved(null);
    let where = fix;
    if (type === "patrol" && !where) {
      try {
        where = await locate();
        setFix(where);
      } catch (e) {
        return setError(`巡查打卡需要定位：${(e as Error).message}`);
      }
    }
    if (type === "household" && !(building && unit && room)) return setError("请填写楼栋、单元和房号");
    try {
      const now = Date.now();
      await store.addVisit({
        type, grid, outcome, notes: notes.trim(), started_at: now, ended_at: null,
        household: type === "household" ? `${building.trim()}-${unit.trim()}-${room.trim()}` : null,
        lat: where?.lat ?? null, lon: where?.lon ?? null, tickets: [], amends: null,
      });
      setSaved(type === "patrol" ? "已打卡" : "已记录走访");
      setNotes("");
      setRoom("");
    } catch (e) {
      setError((e as Error).message);
    }
  };
  return (
    <section class="visits">
      <fieldset class="seg"><legend>类型</legend>
        {(["household", "patrol"] as VisitType[]).map((t) => (
          <label class={type === t ? "on" : ""}><input type="radio" name="visit-type" value={t} checked={type === t} onChange={() => setType(t)} />{VISIT_ZH[t]}</label>
        ))}
      </fieldset>
      {s.grids.length > 1 && <label>网格<select value={grid} onChange={(e) => setGrid(e.currentTarget.value)}>{s.grids.map((g) => <option value={g}>{g}</option>)}</select></label>}
      {type === "household" && (
        <div class="household">
          <label>楼栋<input name="building" inputMode="numeric" value={building} onInput={(e) => setBuilding(e.currentTarget.value)} /></label>
          <label>单元<input name="unit" inputMode="numeric" value={unit} onInput={(e) => setUnit(e.currentTarget.value)} /></label>
          <label>房号<input name="room" inputMode="numeric" value={room} onInput={(e) => setRoom(e.currentTarget.value)} /></label>
        </div>
      )}
      <label>结果<select name="outcome" value={outcome} onChange={(e) => setOutcome(e.currentTarget.value as Outcome)}>{OUTCOMES.map((o) => <option value={o}>{OUTCOME_ZH[o]}</option>)}</select></label>
      <label>备注<textarea name="notes" value={notes} onInput={(e) => setNotes(e.currentTarget.value)} /></label>
      <button type="button" class="big" data-testid="visit-locate" onClick={async () => {
        try { setFix(await locate()); } catch (e) { setError((e as Error).message); }
      }}>{fix ? `已定位 ±${Math.round(fix.accuracy ?? 0)} 米` : "获取定位"}</button>
      {error && <p class="error" role="alert">{error}</p>}
      {saved && <p class="ok" role="status">{saved}（已保存到本机）</p>}
      <button class="primary" data-testid="save-visit" onClick={save}>{type === "patrol" ? "巡查打卡" : "保存走访"}</button>
      <h3>今日走访（{today.length}）</h3>
      <ul class="visit-log" data-testid="today">
        {today.map((v) => (
          <li>
            <b>{VISIT_ZH[v.type]}</b> {fmt(v.started_at)} {v.household ?? ""} · {OUTCOME_ZH[v.outcome]}
            {v.lat !== null && v.lon !== null && <span class="hint"> · {v.lat.toFixed(4)}, {v.lon.toFixed(4)}</span>}
            {v.notes && <div class="note">{v.notes}</div>}
          </li>
        ))}
      </ul>
    </section>
  );
}

function Me({ store, onOut }: { store: Store; onOut: () => void }) {
  const s = store.session;
  const photos = store.photos.pendingCount();
  const unsynced = store.unsyncedCount() + photos;
  const [asked, setAsked] = useState(false);
  return (
    <section class="me">
      <dl>
        <dt>用户</dt><dd>{s.user}</dd>
        <dt>角色</dt><dd>{ROLE_ZH[s.role] ?? s.role}</dd>
        <dt>网格</dt><dd>{s.grids.join("、") || "—"}</dd>
        <dt>同步</dt><dd>{store.online ? "已连接服务器" : "离线：记录保存在本机，联网后自动同步"}</dd>
        <dt>未同步</dt><dd data-testid="me-unsynced">{unsynced - photos} 项</dd>
        <dt>未上传照片</dt><dd data-testid="me-photos">{photos} 张</dd>
        <dt>本机存储</dt><dd data-testid="persist">{PERSIST_ZH[String(store.persisted)]}</dd>
        <dt>分类表</dt><dd>{store.catalog() ? `第 ${store.catalog()!.version} 版` : "尚未收到"}</dd>
      </dl>
      {asked && unsynced > 0 && (
        <p class="error" role="alert" data-testid="logout-warning">还有 {unsynced} 项记录或照片未同步到服务器。现在退出会删除本机上的这些记录，且无法恢复。请先联网等待同步完成。</p>
      )}
      <button class={asked ? "danger" : "big"} onClick={() => {
        if (unsynced > 0 && !asked) return setAsked(true);
        onOut();
      }}>{asked && unsynced > 0 ? "仍然退出并删除本机记录" : "退出登录"}</button>
    </section>
  );
}

export async function logout(store: Store): Promise<void> {
  await store.close();
  forgetSession();
  forgetListing(store.session.user);
  await new Promise<void>((ok) => {
    const r = indexedDB.deleteDatabase(`gridsync-${store.session.user}`);
    r.onsuccess = r.onerror = r.onblocked = () => ok();
  });
  await deletePhotoDb(store.session.user);
}
