// The export form: builds a link to `/api/export` with the parameters
// server/src/export/http.rs takes (format, table, from, to, grid,
// community, street, district, lang, include_personal). The browser sends
// the session cookie with the download.

import { useState } from "preact/hooks";
import { withQuery } from "../api";
import { t } from "../i18n";
import type { Me } from "../types";
import { PageHeader } from "../ui";

const TABLES = [
  ["", "export_all_tables"],
  ["by-grid", "by_grid"],
  ["by-community", "by_community"],
  ["by-street", "by_street"],
  ["tickets", "nav_tickets"],
  ["visits", "visits"],
] as const;

export function ExportPage({ me }: { me: Me }) {
  const [f, setF] = useState({
    format: "xlsx",
    table: "",
    from: "",
    to: "",
    grid: "",
    community: "",
    street: "",
    district: "",
    lang: "zh",
    include_personal: false,
  });
  const set = (key: keyof typeof f) => (e: Event) => setF({ ...f, [key]: (e.currentTarget as HTMLInputElement).value });
  const href = withQuery("/api/export", {
    format: f.format,
    table: f.format === "csv" ? f.table : "",
    from: f.from,
    to: f.to,
    grid: f.grid,
    community: f.community,
    street: f.street,
    district: f.district,
    lang: f.lang === "zh" ? "" : f.lang,
    include_personal: f.include_personal ? "true" : "",
  });
  return (
    <div>
      <PageHeader title={t("export_title")} />
      <section class="panel export-form">
        <div class="form-grid">
          <label class="field">
            <span>{t("export_format")}</span>
            <select name="format" value={f.format} onChange={set("format")}>
              <option value="xlsx">Excel (XLSX)</option>
              <option value="csv">CSV (UTF-8 BOM)</option>
              <option value="geojson">GeoJSON</option>
              <option value="json">JSON</option>
            </select>
          </label>
          {f.format === "csv" && (
            <label class="field">
              <span>{t("export_table")}</span>
              <select name="table" value={f.table} onChange={set("table")}>
                {TABLES.map(([value, label]) => (
                  <option key={value} value={value}>
                    {t(label)}
                  </option>
                ))}
              </select>
            </label>
          )}
          <label class="field">
            <span>{t("filter_from")}</span>
            <input type="date" name="from" value={f.from} onInput={set("from")} />
          </label>
          <label class="field">
            <span>{t("filter_to")}</span>
            <input type="date" name="to" value={f.to} onInput={set("to")} />
          </label>
          <label class="field">
            <span>{t("filter_grid")}</span>
            <input name="grid" value={f.grid} onInput={set("grid")} placeholder="GL-03-07,GL-03-08" />
          </label>
          <label class="field">
            <span>{t("filter_community")}</span>
            <input name="community" value={f.community} onInput={set("community")} />
          </label>
          <label class="field">
            <span>{t("filter_street")}</span>
            <input name="street" value={f.street} onInput={set("street")} />
          </label>
          <label class="field">
            <span>{t("filter_district")}</span>
            <input name="district" value={f.district} onInput={set("district")} />
          </label>
          <label class="field">
            <span>{t("export_lang")}</span>
            <select name="lang" value={f.lang} onChange={set("lang")}>
              <option value="zh">中文</option>
              <option value="en">English</option>
            </select>
          </label>
        </div>
        {me.role === "admin" && (
          <label class="check">
            <input
              type="checkbox"
              checked={f.include_personal}
              onChange={(e) => setF({ ...f, include_personal: e.currentTarget.checked })}
            />
            {t("export_personal")}
          </label>
        )}
        <p class="hint">{t("export_hint")}</p>
        <div class="form-buttons">
          <a class="btn btn-primary" href={href} download data-export-link>
            {t("export_go")}
          </a>
          <code class="muted small">{href}</code>
        </div>
      </section>
    </div>
  );
}
