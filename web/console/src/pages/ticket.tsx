// One ticket: its fields, where it is, what happened (events in order,
// unapplied ones marked and explained), comments, and the actions the
// relay says this person may take next, each as a small form. The page
// never decides a status itself: it shows the relay's fold.

import { useEffect, useMemo, useRef, useState } from "preact/hooks";
import L from "leaflet";
import { api, ApiError } from "../api";
import { consoleConfig } from "../config";
import { formatTime, isoToLocalInput, localInputToIso } from "../format";
import {
  actionLabel,
  conflictReason,
  kindLabel,
  RATINGS,
  ratingLabel,
  roleLabel,
  sourceLabel,
  t,
} from "../i18n";
import { createMap, STATUS_COLOURS } from "../leaflet-map";
import { useTicketEvents } from "../live";
import { PhotosPanel, PhotoViewer, VerifyCompare } from "../photos";
import type { AllowedAction, Detail, Location, Me, Page, Photo, Summary, TicketEvent } from "../types";
import { ErrorBox, errorText, Link, Loading, StatusBadge, Tags, useAsync } from "../ui";

export function TicketPage({ me, id }: { me: Me; id: string }) {
  const loaded = useAsync(() => api.get<Detail>(`/api/tickets/${encodeURIComponent(id)}`), [id]);
  const [detail, setDetail] = useState<Detail | null>(null);
  const [done, setDone] = useState<string | null>(null);
  const [viewing, setViewing] = useState<Photo | null>(null);
  useEffect(() => setDetail(loaded.data), [loaded.data]);
  // A photo the relay does not hold yet arrives without a ticket change
  // (the device uploads it after syncing the document): look again now and
  // then while one is missing.
  const missing = (detail?.ticket.photos ?? []).some((p) => !p.uploaded);
  useEffect(() => {
    if (!missing) return;
    const timer = setInterval(loaded.reload, 10_000);
    return () => clearInterval(timer);
  }, [missing, loaded.reload]);
  useTicketEvents(
    (s) => {
      if (s.id === id) loaded.reload();
    },
    [id],
  );

  if (loaded.error && !detail) {
    const missing = loaded.error instanceof ApiError && loaded.error.status === 404;
    return <ErrorBox error={missing ? new Error(t("not_found")) : loaded.error} retry={loaded.reload} />;
  }
  if (!detail) return <Loading />;
  const tk = detail.ticket;
  const s = detail.summary ?? summaryOf(id, tk);
  const conflicted = new Set(detail.conflicts.map((c) => c.event_id).filter((e): e is string => !!e));
  const photos = tk.photos ?? [];
  // The verify step: the relay says this person may verify now.
  const verifying = me.role !== "reviewer" && detail.actions.some((a) => a.action === "verified");

  return (
    <div class="ticket-page" data-status={s.status}>
      <div class="crumbs">
        <Link to="/tickets">← {t("nav_tickets")}</Link>
      </div>
      <div class="ticket-head">
        <h1>{s.title || t("none")}</h1>
        <StatusBadge status={s.status} />
        <Tags s={s} />
      </div>
      <div class="facts">
        <Fact label={t("ticket_id")} value={s.id} mono wide />
        <Fact label={t("col_grid")} value={s.grid} mono />
        <Fact label={t("col_category")} value={s.category} mono />
        <Fact label={t("kind")} value={kindLabel(tk.kind as string)} />
        <Fact label={t("source")} value={sourceLabel(tk.source as string)} />
        <Fact label={t("col_urgency")} value={s.urgency === "urgent" ? t("urgent") : t("normal")} />
        <Fact label={t("col_unit")} value={s.unit ?? t("none")} />
        <Fact label={t("col_due")} value={formatTime(s.due_at)} warn={s.overdue} />
        <Fact label={t("col_reported")} value={`${formatTime(s.reported_at)} · ${s.created_by}`} />
      </div>
      {done && (
        <div class="success-box" role="status">
          {done}
        </div>
      )}
      {verifying && <VerifyCompare photos={photos} onOpen={setViewing} />}
      <div class="ticket-body">
        <div class="ticket-main">
          {detail.conflicts.length > 0 && (
            <section class="panel conflict-panel" data-conflicts={detail.conflicts.length}>
              <h2>
                {t("conflicts_title")} ({detail.conflicts.length})
              </h2>
              <p>{t("conflict_intro")}</p>
              <ul class="conflict-list">
                {detail.conflicts.map((c, i) => (
                  <li key={c.event_id ?? i}>
                    <strong>{actionLabel(c.action)}</strong> · {c.actor ?? t("none")}
                    {c.role ? `（${roleLabel(c.role)}）` : ""}
                    <div class="conflict-reason">{conflictReason(c.detail ?? c.reason)}</div>
                  </li>
                ))}
              </ul>
            </section>
          )}
          <section class="panel">
            <h2>{t("description")}</h2>
            <p class="description">{(tk.description as string) || t("none")}</p>
            {tk.resident && (tk.resident.name || tk.resident.phone) && (
              <p class="resident">
                {t("resident")}：{tk.resident.name ?? ""} {tk.resident.phone ?? ""}
              </p>
            )}
          </section>
          <PhotosPanel photos={photos} onOpen={setViewing} />
          <section class="panel">
            <h2>{t("timeline")}</h2>
            <Timeline events={detail.events} conflicted={conflicted} />
          </section>
          <Comments me={me} detail={detail} onChange={loaded.reload} />
        </div>
        <div class="ticket-side">
          <section class="panel actions-panel">
            <h2>{t("actions")}</h2>
            {me.role === "reviewer" ? (
              <p class="muted">{t("read_only")}</p>
            ) : detail.actions.length === 0 ? (
              <p class="muted">{t("no_actions")}</p>
            ) : (
              detail.actions.map((a) => (
                <ActionForm
                  key={a.action}
                  id={s.id}
                  allowed={a}
                  onDone={(next) => {
                    setDetail(next);
                    setDone(t("done", { what: actionLabel(a.action) }));
                  }}
                />
              ))
            )}
          </section>
          <section class="panel">
            <h2>{t("location")}</h2>
            <LocationView location={tk.location ?? null} status={s.status} />
          </section>
        </div>
      </div>
      <PhotoViewer photos={photos} open={viewing} onClose={() => setViewing(null)} onStep={setViewing} />
    </div>
  );
}

/** A stand-in summary from the ticket's own fields, for one whose summary the relay could not make. */
function summaryOf(id: string, tk: Detail["ticket"]): Summary {
  const text = (v: unknown) => (typeof v === "string" ? v : null);
  return {
    id,
    grid: text(tk.grid) ?? "",
    status: (text(tk.status) ?? "reported") as Summary["status"],
    category: text(tk.category) ?? "",
    title: text(tk.title) ?? "",
    urgency: text(tk.urgency),
    unit: text(tk.unit),
    due_at: text(tk.due_at),
    reported_at: text(tk.reported_at),
    updated_at: null,
    rework_count: Number(tk.rework_count ?? 0),
    conflicts: 0,
    overdue: false,
    created_by: text(tk.created_by) ?? "",
    photos: (tk.photos ?? []).map((p) => p.hash),
  };
}

function Fact(props: { label: string; value: string; mono?: boolean; warn?: boolean; wide?: boolean }) {
  const { label, value, mono, warn, wide } = props;
  return (
    <div class={wide ? "fact fact-wide" : "fact"}>
      <div class="fact-label">{label}</div>
      <div class={`fact-value${mono ? " mono" : ""}${warn ? " overdue-text" : ""}`}>{value}</div>
    </div>
  );
}

function Timeline({ events, conflicted }: { events: TicketEvent[]; conflicted: Set<string> }) {
  return (
    <ol class="timeline">
      {events.map((e, i) => {
        const unapplied = !e.applied || (e.id !== null && conflicted.has(e.id));
        if (e.unreadable) {
          return (
            <li key={`unreadable-${i}`} class="event unapplied">
              <div class="event-time">—</div>
              <div class="event-body">{conflictReason({ kind: "unreadable", detail: e.unreadable })}</div>
            </li>
          );
        }
        return (
          <li key={e.id ?? i} class={unapplied ? "event unapplied" : "event"} data-action={e.action ?? ""}>
            <div class="event-time">{formatTime(e.at)}</div>
            <div class="event-body">
              <div class="event-title">
                <strong>{actionLabel(e.action)}</strong>
                <span class="muted">
                  {" "}
                  {t("by")} {e.actor}
                  {e.role ? `（${roleLabel(e.role)}）` : ""}
                </span>
                {unapplied && <span class="tag tag-conflict">{t("not_applied")}</span>}
              </div>
              {e.unit && (
                <div>
                  {t("unit")}：{e.unit}
                </div>
              )}
              {e.due_at && (
                <div>
                  {t("due_at")}：{formatTime(e.due_at)}
                </div>
              )}
              {e.rating && (
                <div>
                  {t("rating")}：{ratingLabel(e.rating)}
                </div>
              )}
              {e.note && <div class="event-note">{e.note}</div>}
            </div>
          </li>
        );
      })}
    </ol>
  );
}

function Comments({ me, detail, onChange }: { me: Me; detail: Detail; onChange: () => void }) {
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    if (!text.trim()) return;
    setBusy(true);
    setError(null);
    try {
      await api.post(`/api/tickets/${encodeURIComponent(String(detail.ticket.id))}/comments`, { text: text.trim() });
      setText("");
      onChange();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <section class="panel">
      <h2>{t("comments")}</h2>
      {detail.comments.length === 0 ? (
        <p class="muted">{t("no_comments")}</p>
      ) : (
        <ul class="comments">
          {detail.comments.map((c) => (
            <li key={c.id}>
              <div class="muted small">
                {formatTime(c.at)} · {c.author}
              </div>
              <div>{c.text}</div>
            </li>
          ))}
        </ul>
      )}
      {me.role !== "reviewer" && (
        <form class="comment-form" onSubmit={submit}>
          <textarea
            rows={2}
            placeholder={t("comment_placeholder")}
            value={text}
            onInput={(e) => setText(e.currentTarget.value)}
          />
          {error ? <ErrorBox error={error} /> : null}
          <button class="btn" type="submit" disabled={busy || !text.trim()}>
            {t("add_comment")}
          </button>
        </form>
      )}
    </section>
  );
}

/** A default the relay proposes for a field, when it sends one. */
function proposed(a: AllowedAction, field: string): string {
  const value = a.defaults?.[field];
  return typeof value === "string" || typeof value === "number" ? String(value) : "";
}

/** The fields an action's form shows: what the relay says it needs, then what it also takes. */
function fieldsOf(a: AllowedAction): { field: string; required: boolean }[] {
  const names = [...a.needs];
  for (const f of a.optional ?? ["note"]) if (!names.includes(f)) names.push(f);
  // The decision first (unit, deadline, rating, original), the note last.
  const order = ["unit", "due_at", "rating", "duplicate_of"];
  const rank = (f: string) => (f === "note" ? 99 : order.includes(f) ? order.indexOf(f) : 50);
  names.sort((x, y) => rank(x) - rank(y));
  return names.map((field) => ({ field, required: a.needs.includes(field) }));
}

function ActionForm({ id, allowed, onDone }: { id: string; allowed: AllowedAction; onDone: (d: Detail) => void }) {
  const [open, setOpen] = useState(false);
  const fields = fieldsOf(allowed);
  const initial = () => {
    const v: Record<string, string> = {};
    for (const { field } of fields) {
      const p = proposed(allowed, field);
      v[field] = field === "due_at" ? isoToLocalInput(p) : p;
    }
    return v;
  };
  const [values, setValues] = useState<Record<string, string>>(initial);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const units = useUnits(open && fields.some((f) => f.field === "unit"));

  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const body: Record<string, string> = { action: allowed.action };
    for (const { field } of fields) {
      const v = (values[field] ?? "").trim();
      if (v) body[field] = field === "due_at" ? localInputToIso(v) : v;
    }
    try {
      const next = await api.post<Detail>(`/api/tickets/${encodeURIComponent(id)}/actions`, body);
      setOpen(false);
      onDone(next);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };

  if (!open) {
    return (
      <button
        class={`btn action-btn action-${allowed.action}`}
        data-action={allowed.action}
        onClick={() => {
          setValues(initial());
          setOpen(true);
        }}
      >
        {actionLabel(allowed.action)}
      </button>
    );
  }
  const set = (field: string) => (e: Event) =>
    setValues({ ...values, [field]: (e.currentTarget as HTMLInputElement).value });
  return (
    <form class="action-form" data-action-form={allowed.action} onSubmit={submit}>
      <h3>{actionLabel(allowed.action)}</h3>
      {fields.map(({ field, required }) => (
        <label class="field" key={field}>
          <span>
            {fieldLabel(field)}
            {required && field !== "note" ? " *" : ""}
          </span>
          {field === "note" ? (
            <textarea
              name="note"
              rows={2}
              required={required}
              placeholder={required ? t("note_required") : ""}
              value={values.note}
              onInput={set("note")}
            />
          ) : field === "rating" ? (
            <select name="rating" required={required} value={values.rating} onChange={set("rating")}>
              <option value="" />
              {RATINGS.map((r) => (
                <option key={r} value={r}>
                  {ratingLabel(r)}
                </option>
              ))}
            </select>
          ) : field === "due_at" ? (
            <>
              <input
                name="due_at"
                type="datetime-local"
                required={required}
                value={values.due_at}
                onInput={set("due_at")}
              />
              {!values.due_at && <span class="hint">{t("due_default")}</span>}
            </>
          ) : field === "unit" ? (
            <>
              <input name="unit" list="known-units" required={required} value={values.unit} onInput={set("unit")} />
              <datalist id="known-units">
                {units.map((u) => (
                  <option key={u} value={u} />
                ))}
              </datalist>
            </>
          ) : (
            <input name={field} required={required} value={values[field]} onInput={set(field)} />
          )}
        </label>
      ))}
      {error ? (
        <div class="error-box" role="alert" data-reason={error instanceof ApiError ? (error.reason ?? "") : ""}>
          {refusalText(error, id)}
        </div>
      ) : null}
      <div class="form-buttons">
        <button class="btn btn-primary" type="submit" disabled={busy}>
          {busy ? t("working") : t("submit")}
        </button>
        <button class="btn" type="button" onClick={() => setOpen(false)}>
          {t("cancel")}
        </button>
      </div>
    </form>
  );
}

/** Why an action was refused, in the console's words where it has them. */
function refusalText(error: unknown, id: string): string {
  if (error instanceof ApiError && error.reason === "after_photos_required") {
    return t("after_photos_required", { id });
  }
  if (error instanceof ApiError && error.reason === "not_nearly_due") {
    return t("not_nearly_due");
  }
  return errorText(error);
}

function fieldLabel(field: string): string {
  switch (field) {
    case "note":
      return t("note");
    case "unit":
      return t("unit");
    case "due_at":
      return t("due_at");
    case "rating":
      return t("rating");
    case "duplicate_of":
      return t("duplicate_of");
    default:
      return field;
  }
}

/** Units tickets in scope were dispatched to, to suggest in the dispatch form. */
function useUnits(wanted: boolean): string[] {
  const [units, setUnits] = useState<string[]>([]);
  useEffect(() => {
    if (!wanted) return;
    api.get<Page<Summary>>("/api/tickets", { limit: 500 }).then(
      (page) => setUnits([...new Set(page.items.map((s) => s.unit).filter((u): u is string => !!u))].sort()),
      () => setUnits([]),
    );
  }, [wanted]);
  return units;
}

function LocationView({ location, status }: { location: Location | null; status: string }) {
  const element = useRef<HTMLDivElement>(null);
  const config = useAsync(consoleConfig, []);
  const has = location && Number.isFinite(location.lat) && Number.isFinite(location.lon);
  useEffect(() => {
    if (!has || !config.data || !element.current) return;
    const handle = createMap(element.current, config.data);
    const at = handle.place(location.lat, location.lon);
    L.circleMarker(at, {
      radius: 9,
      color: "#fff",
      weight: 2,
      fillColor: STATUS_COLOURS[status] ?? "#333",
      fillOpacity: 1,
    }).addTo(handle.map);
    handle.map.setView(at, 16);
    return () => handle.map.remove();
  }, [has, config.data, location?.lat, location?.lon, status]);
  const text = useMemo(
    () => (has ? `${location.lat.toFixed(6)}, ${location.lon.toFixed(6)} (WGS-84)` : ""),
    [has, location?.lat, location?.lon],
  );
  if (!has) return <p class="muted">{t("no_location")}</p>;
  return (
    <div>
      <div ref={element} class="mini-map" />
      {location.address && (
        <div>
          {t("address")}：{location.address}
        </div>
      )}
      <div class="mono small">{text}</div>
      {location.accuracy != null && (
        <div class="muted small">
          {t("accuracy")}：±{Math.round(location.accuracy)} m
        </div>
      )}
    </div>
  );
}
