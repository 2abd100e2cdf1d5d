// Tickets on a map, coloured by status. The points come from the GeoJSON
// export (`/api/export?format=geojson`, WGS-84, scoped like every export),
// so the map shows exactly what a reviewer would download.

import { useEffect, useRef, useState } from "preact/hooks";
import L from "leaflet";
import { withQuery } from "../api";
import { consoleConfig } from "../config";
import { STATUSES, statusLabel, t } from "../i18n";
import { createMap, STATUS_COLOURS } from "../leaflet-map";
import { BASE, navigate } from "../router";
import type { Me } from "../types";
import { ErrorBox, PageHeader, useAsync } from "../ui";

interface Feature {
  geometry: { type: string; coordinates: [number, number] } | null;
  properties: Record<string, unknown>;
}

async function loadPoints(query: Record<string, string>): Promise<Feature[]> {
  const response = await fetch(withQuery("/api/export", { format: "geojson", ...query }), {
    credentials: "same-origin",
  });
  if (response.status === 404) return []; // no grid matched
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as { error?: string };
    throw new Error(body.error ?? `${response.status}`);
  }
  const data = (await response.json()) as { features?: Feature[] };
  return (data.features ?? []).filter((f) => f.geometry?.type === "Point");
}

export function MapPage(_: { me: Me }) {
  const [status, setStatus] = useState("open");
  const [from, setFrom] = useState("");
  const config = useAsync(consoleConfig, []);
  const points = useAsync(() => loadPoints(from ? { from } : {}), [from]);
  const element = useRef<HTMLDivElement>(null);

  const shown = (points.data ?? []).filter((f) => {
    const s = String(f.properties.status ?? "");
    if (status === "all") return true;
    if (status === "open") return !["closed", "invalid"].includes(s);
    return s === status;
  });

  useEffect(() => {
    if (!config.data || !element.current) return;
    const handle = createMap(element.current, config.data);
    const layer = L.layerGroup().addTo(handle.map);
    const bounds: L.LatLngExpression[] = [];
    for (const f of shown) {
      const [lon, lat] = f.geometry!.coordinates;
      const at = handle.place(lat, lon);
      bounds.push(at);
      const s = String(f.properties.status ?? "");
      const id = String(f.properties.id ?? "");
      const marker = L.circleMarker(at, {
        radius: 8,
        color: "#ffffff",
        weight: 1.5,
        fillColor: STATUS_COLOURS[s] ?? "#333",
        fillOpacity: 0.95,
      });
      const popup = document.createElement("div");
      popup.className = "map-popup";
      const title = document.createElement("div");
      title.className = "map-popup-title";
      title.textContent = String(f.properties.title ?? id);
      const meta = document.createElement("div");
      meta.textContent = `${statusLabel(s)} · ${String(f.properties.grid ?? "")}`;
      const link = document.createElement("a");
      link.href = `${BASE}/tickets/${id}`;
      link.textContent = t("map_open");
      link.addEventListener("click", (e) => {
        e.preventDefault();
        navigate(`/tickets/${id}`);
      });
      popup.append(title, meta, link);
      marker.bindPopup(popup);
      // With a few points, name each on the map; with many, on hover.
      marker.bindTooltip(String(f.properties.title ?? id), { permanent: shown.length <= 30, direction: "right", offset: [8, 0] });
      marker.addTo(layer);
    }
    if (bounds.length > 0) handle.map.fitBounds(L.latLngBounds(bounds as L.LatLngTuple[]).pad(0.2), { maxZoom: 17 });
    else handle.map.setView([30.27, 120.15], 12);
    return () => handle.map.remove();
  }, [config.data, points.data, status]);

  const counts = new Map<string, number>();
  for (const f of points.data ?? []) {
    const s = String(f.properties.status ?? "");
    counts.set(s, (counts.get(s) ?? 0) + 1);
  }

  return (
    <div class="map-page">
      <PageHeader title={t("map_title")}>
        <label class="field-inline">
          <span>{t("filter_status")}</span>
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value)}>
            <option value="open">{t("filter_open")}</option>
            <option value="all">{t("filter_all")}</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {statusLabel(s)}
              </option>
            ))}
          </select>
        </label>
        <label class="field-inline">
          <span>{t("filter_from")}</span>
          <input type="date" value={from} onChange={(e) => setFrom(e.currentTarget.value)} />
        </label>
      </PageHeader>
      {points.error ? <ErrorBox error={points.error} retry={points.reload} /> : null}
      <div class="map-notes">
        <span data-map-count={shown.length}>{t("map_count", { n: shown.length })}</span>
        {config.data && !config.data.tiles && <span class="muted"> · {t("map_no_tiles")}</span>}
        {config.data?.tiles?.crs === "gcj02" && <span class="muted"> · {t("map_gcj")}</span>}
      </div>
      <div class="map-layout">
        <div ref={element} class="big-map" />
        <ul class="legend">
          {STATUSES.map((s) => (
            <li key={s}>
              <span class="legend-dot" style={{ background: STATUS_COLOURS[s] }} />
              {statusLabel(s)}
              <span class="muted"> {counts.get(s) ?? 0}</span>
            </li>
          ))}
        </ul>
      </div>
    </div>
  );
}
