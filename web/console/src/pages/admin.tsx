// Administration, for admins: users, grids, device tokens and the audit
// log, read from /api/admin/*. Changes to the registry are made with
// `gridsync-server user|grid|token` on the relay machine.

import { useState } from "preact/hooks";
import { api } from "../api";
import { formatTime } from "../format";
import { auditActionLabel, roleLabel, scopeLabel, t, type Key } from "../i18n";
import type { Me } from "../types";
import { ErrorBox, Loading, PageHeader, useAsync } from "../ui";

export type AdminSection = "users" | "grids" | "tokens" | "audit";

type Row = Record<string, unknown>;

interface Column {
  field: string;
  label: Key;
  show?: (value: unknown, row: Row) => string;
}

const time = (v: unknown) => (v == null ? "—" : formatTime(v as string | number));

const SECTIONS: Record<AdminSection, { title: Key; path: string; columns: Column[] }> = {
  users: {
    title: "admin_users",
    path: "/api/admin/users",
    columns: [
      { field: "name", label: "name" },
      { field: "role", label: "role", show: (v) => roleLabel(String(v)) },
      { field: "scope", label: "scope", show: (v) => scopeLabel(v) },
      { field: "created_at", label: "created_at", show: time },
    ],
  },
  grids: {
    title: "admin_grids",
    path: "/api/admin/grids",
    columns: [
      { field: "code", label: "code" },
      { field: "name", label: "name" },
      { field: "community", label: "community" },
      { field: "street", label: "street" },
      { field: "district", label: "district" },
    ],
  },
  tokens: {
    title: "admin_tokens",
    path: "/api/admin/tokens",
    columns: [
      { field: "id", label: "code" },
      { field: "user", label: "user" },
      { field: "label", label: "label" },
      { field: "issued_at", label: "issued_at", show: time },
      { field: "revoked_at", label: "state", show: (v) => (v == null ? t("active") : `${t("revoked")} ${time(v)}`) },
    ],
  },
  audit: {
    title: "admin_audit",
    path: "/api/admin/audit",
    columns: [
      { field: "at", label: "at", show: time },
      { field: "user", label: "user" },
      { field: "action", label: "action", show: (v) => auditActionLabel(v == null ? null : String(v)) },
      { field: "grid", label: "col_grid" },
      { field: "doc", label: "doc" },
      { field: "changes", label: "changes" },
      { field: "reason", label: "reason" },
      { field: "addr", label: "addr" },
      { field: "count", label: "count" },
    ],
  },
};

function rowsOf(data: unknown): Row[] {
  if (Array.isArray(data)) return data as Row[];
  if (data && typeof data === "object") {
    const d = data as Record<string, unknown>;
    for (const key of ["items", "users", "grids", "tokens", "records", "audit"]) {
      if (Array.isArray(d[key])) return d[key] as Row[];
    }
  }
  return [];
}

function cell(value: unknown): string {
  if (value == null || value === "") return "—";
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

export function AdminPage({ me, section }: { me: Me; section: AdminSection }) {
  const def = SECTIONS[section];
  const data = useAsync(
    () => api.get<unknown>(def.path, section === "audit" ? { limit: 200 } : undefined),
    [section],
  );
  if (me.role !== "admin") return <ErrorBox error={new Error(t("forbidden"))} />;
  const rows = rowsOf(data.data);
  return (
    <div>
      <PageHeader title={t(def.title)} />
      {section === "tokens" && <IssueToken onIssued={data.reload} />}
      <section class="panel" data-admin={section}>
        {data.error ? <ErrorBox error={data.error} retry={data.reload} /> : null}
        {data.loading && !data.data ? (
          <Loading />
        ) : (
          <table class="grid-table">
            <thead>
              <tr>
                {def.columns.map((c) => (
                  <th key={c.field}>{t(c.label)}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((r, i) => (
                <tr key={i}>
                  {def.columns.map((c) => (
                    <td key={c.field} class={c.field === "id" || c.field === "doc" ? "mono" : undefined}>
                      {c.show ? c.show(r[c.field], r) : cell(r[c.field])}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}

/** A token for a device of the logged-in person (`POST /api/tokens`), shown once. */
function IssueToken({ onIssued }: { onIssued: () => void }) {
  const [device, setDevice] = useState("");
  const [token, setToken] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const issued = await api.post<{ token: string; id: string }>("/api/tokens", { device: device.trim() });
      setToken(issued.token);
      setDevice("");
      onIssued();
    } catch (err) {
      setError(err);
    }
  };
  return (
    <section class="panel">
      <h2>{t("issue_token")}</h2>
      <form class="inline-form" onSubmit={submit}>
        <input required placeholder={t("device_label")} value={device} onInput={(e) => setDevice(e.currentTarget.value)} />
        <button class="btn btn-primary" type="submit">
          {t("issue_token")}
        </button>
      </form>
      {error ? <ErrorBox error={error} /> : null}
      {token && (
        <div class="success-box">
          {t("token_shown_once")}
          <pre class="mono">gridsync login --server ws://{location.host}/ --token {token}</pre>
        </div>
      )}
    </section>
  );
}
