// A ticket's photos: thumbnails grouped 处置前 / 处置后 with who took them
// and when, the before/after comparison of the verify step, and the
// in-page viewer (a modal <dialog>: Esc closes it, ← → step through).
//
// Photos are fetched from the relay's /api/blobs with the session cookie.
// One the relay does not hold yet (the device that took it has not
// uploaded it: `uploaded` is false, or the request answers 404) is shown
// as 未上传, never as a broken image.

import { useEffect, useRef, useState } from "preact/hooks";
import { formatTime } from "./format";
import { t } from "./i18n";
import type { Photo } from "./types";

export const PHASES = ["before", "after"] as const;

export function phaseLabel(phase: string): string {
  return phase === "before" ? t("phase_before") : phase === "after" ? t("phase_after") : phase;
}

function caption(p: Photo): string {
  return t("photo_by", { who: p.added_by, at: formatTime(p.at) });
}

/** The image of `p` (its thumbnail, or the full photo), or 未上传 when the relay lacks it. */
function PhotoImage({ photo, full, onMissing }: { photo: Photo; full?: boolean; onMissing?: () => void }) {
  const [failed, setFailed] = useState(false);
  useEffect(() => setFailed(false), [photo.hash, photo.uploaded]);
  if (!photo.uploaded || failed) {
    return (
      <div class={full ? "photo-missing photo-missing-full" : "photo-missing"} data-missing={photo.hash}>
        <strong>{t("photo_not_uploaded")}</strong>
        <span>{t("photo_not_uploaded_hint")}</span>
      </div>
    );
  }
  return (
    <img
      src={full ? photo.url : photo.thumb_url}
      alt={`${phaseLabel(photo.phase)} · ${caption(photo)}`}
      onError={() => {
        setFailed(true);
        onMissing?.();
      }}
    />
  );
}

/** One thumbnail: a button that opens the viewer. */
function Thumb({ photo, onOpen }: { photo: Photo; onOpen: () => void }) {
  return (
    <figure class="photo" data-photo={photo.hash} data-phase={photo.phase} data-uploaded={String(photo.uploaded)}>
      <button
        type="button"
        class="photo-button"
        onClick={onOpen}
        aria-label={t("photo_open", { phase: phaseLabel(photo.phase), who: photo.added_by })}
      >
        <PhotoImage photo={photo} />
      </button>
      <figcaption class="muted small">{caption(photo)}</figcaption>
    </figure>
  );
}

/** The photos panel: 处置前 and 处置后, each with its thumbnails. */
export function PhotosPanel({ photos, onOpen }: { photos: Photo[]; onOpen: (p: Photo) => void }) {
  return (
    <section class="panel photos-panel" data-photos={photos.length}>
      <h2>
        {t("photos")} ({photos.length})
      </h2>
      {photos.length === 0 ? (
        <p class="muted">{t("no_photos")}</p>
      ) : (
        PHASES.map((phase) => {
          const mine = photos.filter((p) => p.phase === phase);
          return (
            <div class="photo-group" data-phase-group={phase} key={phase}>
              <h3>
                {phaseLabel(phase)} ({mine.length})
              </h3>
              {mine.length === 0 ? (
                <p class="muted small">{t("phase_none")}</p>
              ) : (
                <div class="photo-row">
                  {mine.map((p) => (
                    <Thumb key={p.hash + p.phase} photo={p} onOpen={() => onOpen(p)} />
                  ))}
                </div>
              )}
            </div>
          );
        })
      )}
    </section>
  );
}

/** The verify step: before and after side by side, large, before the verifier chooses. */
export function VerifyCompare({ photos, onOpen }: { photos: Photo[]; onOpen: (p: Photo) => void }) {
  const side = (phase: "before" | "after") => {
    const mine = photos.filter((p) => p.phase === phase);
    return (
      <div class="compare-side" data-compare={phase}>
        <h3>{phaseLabel(phase)}</h3>
        {mine.length === 0 ? (
          <p class="muted">{phase === "before" ? t("verify_no_before") : t("verify_no_after")}</p>
        ) : (
          mine.map((p) => (
            <figure class="compare-photo" key={p.hash} data-photo={p.hash}>
              <button
                type="button"
                class="photo-button"
                onClick={() => onOpen(p)}
                aria-label={t("photo_open", { phase: phaseLabel(p.phase), who: p.added_by })}
              >
                <PhotoImage photo={p} full />
              </button>
              <figcaption class="muted small">{caption(p)}</figcaption>
            </figure>
          ))
        )}
      </div>
    );
  };
  return (
    <section class="panel verify-compare" aria-label={t("verify_compare")}>
      <h2>{t("verify_compare")}</h2>
      <p class="hint">{t("verify_compare_hint")}</p>
      <div class="compare-grid">
        {side("before")}
        {side("after")}
      </div>
    </section>
  );
}

/**
 * The full photo over the page, in a modal <dialog>: focus moves into it,
 * Esc or 关闭 closes it (focus returns to what opened it), ← and → step
 * through the ticket's photos.
 */
export function PhotoViewer(props: { photos: Photo[]; open: Photo | null; onClose: () => void; onStep: (p: Photo) => void }) {
  const { photos, open, onClose, onStep } = props;
  const dialog = useRef<HTMLDialogElement>(null);
  useEffect(() => {
    const d = dialog.current;
    if (!d) return;
    if (open && !d.open) d.showModal();
    if (!open && d.open) d.close();
  }, [open]);
  const index = open ? photos.findIndex((p) => p.hash === open.hash && p.phase === open.phase) : -1;
  const step = (by: number) => {
    if (index < 0 || photos.length < 2) return;
    onStep(photos[(index + by + photos.length) % photos.length]);
  };
  return (
    <dialog
      ref={dialog}
      class="photo-viewer"
      aria-label={open ? `${phaseLabel(open.phase)} · ${caption(open)}` : t("photos")}
      onClose={onClose}
      onCancel={(e) => {
        e.preventDefault();
        onClose();
      }}
      onKeyDown={(e) => {
        if (e.key === "ArrowRight") step(1);
        if (e.key === "ArrowLeft") step(-1);
      }}
      onClick={(e) => {
        // A click on the backdrop (the dialog itself, not its content) closes it.
        if (e.target === dialog.current) onClose();
      }}
    >
      {open && (
        <div class="viewer-body" data-viewing={open.hash}>
          <div class="viewer-head">
            <strong>{phaseLabel(open.phase)}</strong>
            <span class="muted">{caption(open)}</span>
            {photos.length > 1 && <span class="muted">{t("photo_of", { i: index + 1, n: photos.length })}</span>}
            <span class="viewer-tools">
              {photos.length > 1 && (
                <>
                  <button type="button" class="btn btn-small" onClick={() => step(-1)}>
                    ← {t("photo_prev")}
                  </button>
                  <button type="button" class="btn btn-small" onClick={() => step(1)}>
                    {t("photo_next")} →
                  </button>
                </>
              )}
              <button type="button" class="btn btn-small viewer-close" onClick={onClose} autofocus>
                {t("photo_close")}
              </button>
            </span>
          </div>
          <div class="viewer-image">
            <PhotoImage photo={open} full />
          </div>
          <div class="mono small muted">{open.hash}</div>
        </div>
      )}
    </dialog>
  );
}
