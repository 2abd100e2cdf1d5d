// The live app, loaded by `main.tsx` once the kept list is on screen:
// Automerge's wasm, then the login screen or, with a stored session, the
// app itself (offline too: the session and the documents are on this
// device).

import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { initializeWasm } from "@automerge/automerge-repo/slim";
import wasmUrl from "@automerge/automerge/automerge.wasm?url";
import { type Session, refreshMe, storedSession } from "./data/session.js";
import { Store } from "./data/store.js";
import { Login, Shell, logout } from "./ui/app.js";

function App() {
  const [session, setSession] = useState<Session | null>(storedSession());
  const [store, setStore] = useState<Store | null>(null);
  const [error, setError] = useState<string | null>(null);
  /** The relay no longer takes this device's token (revoked, or the user's password changed). */
  const [revoked, setRevoked] = useState(false);
  const [relogin, setRelogin] = useState(false);
  useEffect(() => {
    if (!session) return;
    const s = new Store(session);
    setStore(s);
    setRevoked(false);
    s.start().catch((e) => setError(`无法打开本机数据：${(e as Error).message}`));
    const check = () =>
      void refreshMe(session).then((r) => {
        if (r === "revoked") setRevoked(true);
      });
    check();
    // Back online: is the token still good?
    addEventListener("online", check);
    const warn = (e: BeforeUnloadEvent) => {
      if (s.unsyncedCount() > 0 && !navigator.onLine) e.preventDefault();
    };
    addEventListener("beforeunload", warn);
    return () => {
      removeEventListener("online", check);
      removeEventListener("beforeunload", warn);
      void s.close();
    };
  }, [session]);
  if (!session) return <Login onIn={setSession} />;
  if (!store) return <p class="empty">正在打开…</p>;
  if (relogin) {
    // Logging in again over the same records: the device's database is
    // kept (only a logout deletes it), so nothing unsynced is lost.
    return <Login onIn={(s) => {
      setRelogin(false);
      if (s.user !== session.user) {
        setError(`请用 ${session.user} 的账号重新登录：本机上还有该账号未同步的记录`);
        return;
      }
      setSession(s);
    }} />;
  }
  return (
    <>
      {revoked && <TokenLost store={store} onRelogin={() => setRelogin(true)} />}
      {error && <p class="error banner" role="alert">{error}</p>}
      <Shell store={store} onOut={async () => {
        await logout(store);
        setStore(null);
        setSession(null);
      }} />
    </>
  );
}

/** The warning when the relay refuses this device's token: what is at stake, and a login that keeps it. */
function TokenLost({ store, onRelogin }: { store: Store; onRelogin: () => void }) {
  const [, setN] = useState(0);
  useEffect(() => {
    const on = () => setN((x) => x + 1);
    store.addEventListener("change", on);
    return () => store.removeEventListener("change", on);
  }, [store]);
  const unsynced = store.unsyncedCount();
  return (
    <div class="error banner" role="alert" data-testid="token-lost">
      <p>本设备的登录已失效（令牌被吊销或密码已修改），记录无法同步。
        {unsynced > 0
          ? `还有 ${unsynced} 项记录未同步，仍保存在本机：请不要退出登录或清除浏览器数据，用本账号重新登录即可继续同步。`
          : "本机记录均已同步。"}</p>
      <button class="big" data-testid="relogin" onClick={onRelogin}>重新登录（保留本机记录）</button>
    </div>
  );
}

/** Compiles the wasm, then puts the live app in `root` (over the kept list, if shown). */
export async function start(root: HTMLElement): Promise<void> {
  try {
    await initializeWasm(wasmUrl);
  } catch (e) {
    root.textContent = `应用无法启动（${(e as Error).message}）：请联网后刷新页面`;
    return;
  }
  performance.mark("gridsync:wasm-ready");
  render(<App />, root);
}
