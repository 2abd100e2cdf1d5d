// A Leaflet map with the relay's configured tile layer, or none: the relay
// usually has no internet, and then the points are drawn on a plain
// background at their coordinates. Points arrive in WGS-84 and are moved
// to GCJ-02 when the tiles are drawn in it.

import L from "leaflet";
import { wgs84ToGcj02 } from "./geo";
import type { ConsoleConfig } from "./types";

export interface MapHandle {
  map: L.Map;
  /** A WGS-84 point where the map draws it. */
  place: (lat: number, lon: number) => L.LatLngExpression;
}

export function createMap(element: HTMLElement, config: ConsoleConfig): MapHandle {
  const tiles = config.tiles;
  const map = L.map(element, { zoomControl: true, attributionControl: Boolean(tiles), preferCanvas: false });
  if (tiles) {
    L.tileLayer(tiles.url, { attribution: tiles.attribution ?? "", maxZoom: tiles.max_zoom ?? 19 }).addTo(map);
  } else {
    element.classList.add("no-tiles");
  }
  L.control.scale({ imperial: false }).addTo(map);
  const gcj = tiles?.crs === "gcj02";
  return {
    map,
    place: (lat, lon) => (gcj ? wgs84ToGcj02(lat, lon) : [lat, lon]),
  };
}

/** Status colours, shared by the map's points and the legend. */
export const STATUS_COLOURS: Record<string, string> = {
  reported: "#2563eb",
  accepted: "#0891b2",
  dispatched: "#ea580c",
  acknowledged: "#d97706",
  returned: "#dc2626",
  in_progress: "#ca8a04",
  handled: "#7c3aed",
  verified: "#16a34a",
  closed: "#4b5563",
  invalid: "#9ca3af",
  suspended: "#92400e",
};
