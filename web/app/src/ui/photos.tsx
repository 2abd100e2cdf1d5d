// Photos on screen: the camera button of the report form (处置前) and of
// the handle action (处置后), a ticket's thumbnails, and the count of
// photos the relay does not hold yet. A thumbnail comes from this device's
// copy while it has one, else from the relay's thumbnail.

import { useEffect, useState } from "preact/hooks";
import type { Photo } from "../model/docs.js";
import type { Store } from "../data/store.js";
import { PhotoError } from "../data/photos.js";

const PHASE_ZH: Record<string, string> = { before: "处置前", after: "处置后" };

function Thumb({ store, hash, label }: { store: Store; hash: string; label: string }) {
  const local = store.photos.has(hash);
  const [src, setSrc] = useState<string | null>(null);
  const [broken, setBroken] = useState(false);
  useEffect(() => {
    let live = true;
    setBroken(false);
    if (local) void store.photos.url(hash).then((u) => live && setSrc(u));
    else setSrc(store.photos.relayThumb(hash));
    return () => {
      live = false;
    };
  }, [hash, local]);
  return (
    <span class="thumb" data-photo={hash}>
      {src && !broken
        ? <img src={src} alt={`${label}照片`} onError={() => setBroken(true)} />
        : <span class="thumb-empty">{broken ? "联网后可查看" : "照片"}</span>}
      {local && <span class="thumb-mark" data-testid="photo-local">未上传</span>}
    </span>
  );
}

/** The camera button and the photos taken so far on a form. */
export function PhotoPicker({ store, phase, value, onChange }: {
  store: Store;
  phase: "before" | "after";
  value: string[];
  onChange: (hashes: string[]) => void;
}) {
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [last, setLast] = useState<string | null>(null);
  const take = async (input: HTMLInputElement) => {
    const files = [...(input.files ?? [])];
    input.value = "";
    if (files.length === 0) return;
    setBusy(true);
    setError(null);
    const added: string[] = [];
    try {
      for (const f of files) {
        const p = await store.photos.add(f);
        if (!value.includes(p.hash) && !added.includes(p.hash)) added.push(p.hash);
        setLast(`${Math.round(p.original / 1024)} KB → ${Math.round(p.bytes.length / 1024)} KB（${p.width}×${p.height}）`);
      }
    } catch (e) {
      setError(e instanceof PhotoError ? e.message : `照片未能保存：${(e as Error).message}`);
    } finally {
      if (added.length > 0) onChange([...value, ...added]);
      setBusy(false);
    }
  };
  return (
    <div class="photo-picker" data-phase={phase}>
      <label class={busy ? "camera busy" : "camera"}>
        <span>{busy ? "正在处理照片…" : `拍摄${PHASE_ZH[phase]}照片`}</span>
        <input type="file" accept="image/*" capture="environment" name={`photo-${phase}`} disabled={busy}
          onChange={(e) => void take(e.currentTarget)} />
      </label>
      {value.length > 0 && (
        <div class="thumbs" data-testid={`photos-${phase}`}>
          {value.map((h) => (
            <span class="thumb-wrap">
              <Thumb store={store} hash={h} label={PHASE_ZH[phase]} />
              <button type="button" class="thumb-drop" aria-label="删除照片" onClick={() => {
                onChange(value.filter((x) => x !== h));
                void store.photos.discard(h);
              }}>×</button>
            </span>
          ))}
        </div>
      )}
      {last && !error && <p class="hint" data-testid="photo-size">已保存到本机：{last}</p>}
      {error && <p class="error" role="alert">{error}</p>}
    </div>
  );
}

/** A ticket's photos, before and after side by side. */
export function PhotoStrip({ store, photos }: { store: Store; photos: Photo[] }) {
  if (photos.length === 0) return null;
  const phases = ["before", "after", ...new Set(photos.map((p) => p.phase).filter((p) => p !== "before" && p !== "after"))];
  return (
    <section class="photos" data-testid="ticket-photos">
      <h3>照片（{photos.length}）</h3>
      {phases.map((ph) => {
        const of = photos.filter((p) => p.phase === ph);
        if (of.length === 0) return null;
        return (
          <div class="phase">
            <span class="phase-name">{PHASE_ZH[ph] ?? ph}</span>
            <div class="thumbs">{of.map((p) => <Thumb store={store} hash={p.hash} label={PHASE_ZH[ph] ?? ph} />)}</div>
          </div>
        );
      })}
    </section>
  );
}

/** "N 张照片未上传", shown while the relay lacks some. */
export function PhotoCount({ store }: { store: Store }) {
  const n = store.photos.pendingCount();
  if (n === 0) return null;
  return <span class="pending has" data-testid="photos-pending">{n} 张照片未上传</span>;
}

/** Why photos are stuck, if they are (storage or a refusal). */
export function PhotoTrouble({ store }: { store: Store }) {
  const why = store.photos.loadError ?? store.photos.error;
  return why ? <p class="error banner" role="alert">{why}</p> : null;
}
