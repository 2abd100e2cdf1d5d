// A ticket made at the desk: a 12345 hotline transfer or a task from
// above (`POST /api/tickets`). The relay writes it as this person's actor,
// so devices receive it like any other.

import { useState } from "preact/hooks";
import { api } from "../api";
import { KINDS, kindLabel, SOURCES, sourceLabel, t } from "../i18n";
import { navigate } from "../router";
import type { Detail, Me } from "../types";
import { ErrorBox, PageHeader } from "../ui";

export function NewTicketPage({ me }: { me: Me }) {
  const [f, setF] = useState({
    grid: me.grids[0] ?? "",
    kind: "livelihood",
    source: "hotline",
    category: "",
    urgency: "normal",
    title: "",
    description: "",
    lat: "",
    lon: "",
    address: "",
  });
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(null);
  const set = (key: keyof typeof f) => (e: Event) => setF({ ...f, [key]: (e.currentTarget as HTMLInputElement).value });
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    const location =
      f.lat && f.lon ? { lat: Number(f.lat), lon: Number(f.lon), address: f.address || undefined } : undefined;
    try {
      const made = await api.post<Detail>("/api/tickets", {
        grid: f.grid,
        kind: f.kind,
        source: f.source,
        category: f.category,
        urgency: f.urgency,
        title: f.title,
        description: f.description,
        location,
      });
      navigate(`/tickets/${made.summary?.id ?? String(made.ticket.id)}`);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <div>
      <PageHeader title={t("new_ticket_title")} />
      <form class="panel form-grid" onSubmit={submit}>
        <label class="field">
          <span>{t("col_grid")} *</span>
          <select name="grid" required value={f.grid} onChange={set("grid")}>
            {me.grids.map((g) => (
              <option key={g} value={g}>
                {g}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>{t("source")}</span>
          <select name="source" value={f.source} onChange={set("source")}>
            {SOURCES.map((s) => (
              <option key={s} value={s}>
                {sourceLabel(s)}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>{t("kind")}</span>
          <select name="kind" value={f.kind} onChange={set("kind")}>
            {KINDS.map((k) => (
              <option key={k} value={k}>
                {kindLabel(k)}
              </option>
            ))}
          </select>
        </label>
        <label class="field">
          <span>{t("category")} *</span>
          <input name="category" required value={f.category} onInput={set("category")} placeholder="0101" />
        </label>
        <label class="field">
          <span>{t("urgency")}</span>
          <select name="urgency" value={f.urgency} onChange={set("urgency")}>
            <option value="normal">{t("normal")}</option>
            <option value="urgent">{t("urgent")}</option>
          </select>
        </label>
        <label class="field wide">
          <span>{t("title")} *</span>
          <input name="title" required value={f.title} onInput={set("title")} />
        </label>
        <label class="field wide">
          <span>{t("description")}</span>
          <textarea name="description" rows={4} value={f.description} onInput={set("description")} />
        </label>
        <label class="field">
          <span>{t("lat")} (WGS-84)</span>
          <input name="lat" inputMode="decimal" value={f.lat} onInput={set("lat")} />
        </label>
        <label class="field">
          <span>{t("lon")} (WGS-84)</span>
          <input name="lon" inputMode="decimal" value={f.lon} onInput={set("lon")} />
        </label>
        <label class="field wide">
          <span>{t("address")}</span>
          <input name="address" value={f.address} onInput={set("address")} />
        </label>
        {error ? <ErrorBox error={error} /> : null}
        <div class="form-buttons wide">
          <button class="btn btn-primary" type="submit" disabled={busy}>
            {busy ? t("working") : t("create")}
          </button>
        </div>
      </form>
    </div>
  );
}
