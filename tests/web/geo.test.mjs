// The console's WGS-84 → GCJ-02 conversion (web/console/src/geo.js), used
// when the relay's map tiles are drawn in GCJ-02.

import { test } from "node:test";
import assert from "node:assert/strict";
import { outOfChina, wgs84ToGcj02 } from "../../web/console/src/geo.js";

const close = (actual, expected, what) =>
  assert.ok(Math.abs(actual - expected) < 2e-6, `${what}: ${actual} is not ${expected}`);

test("a point in China moves by the published GCJ-02 offset", () => {
  // Tiananmen: WGS-84 39.908823, 116.397470 is GCJ-02 39.910225, 116.403714
  // (the widely published reference pair, a shift of about 540 m).
  const [lat, lon] = wgs84ToGcj02(39.908823, 116.39747);
  close(lat, 39.910225, "lat");
  close(lon, 116.403714, "lon");
  // Hangzhou, where the test city's grids are: a few hundred metres too.
  const [hLat, hLon] = wgs84ToGcj02(30.2741, 120.1551);
  assert.ok(hLat < 30.2741 && hLon > 120.1551 + 0.004, `${hLat}, ${hLon}`);
});

test("a point outside China is left as it is", () => {
  assert.equal(outOfChina(51.5, -0.12), true);
  assert.deepEqual(wgs84ToGcj02(51.5, -0.12), [51.5, -0.12]);
  assert.equal(outOfChina(30.2741, 120.1551), false);
});
