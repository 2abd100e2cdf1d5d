// Boot: the service worker (so the next visit opens offline), Automerge's
// wasm, then the login screen or, with a stored session, the app itself
// (offline too: the session and the documents are on this device).

import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { initializeWasm } from "@automerge/automerge-repo/slim";
import wasmUrl from "@automerge/automerge/automerge.wasm?url";
import { type Session, refreshMe, storedSession } from "./data/session.js";
import { Store } from "./data/store.js";
import { Login, Shell, logout } from "./ui/app.js";
import "./style.css";

if ("serviceWorker" in navigator) {
  navigator.serviceWorker.register("/app/sw.js", { scope: "/app/" }).catch((e) => console.warn("no service worker:", e));
}

function App() {
  const [session, setSession] = useState<Session | null>(storedSession());
  const [store, setStore] = useState<Store | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (!session) return;
    const s = new Store(session);
    setStore(s);
    s.start().catch((e) => setError(`无法打开本机数据：${(e as Error).message}`));
    void refreshMe(session).then((r) => {
      if (r === "revoked") setError("本设备的令牌已被吊销：未同步的记录仍在本机，请联系管理员后重新登录");
    });
    const warn = (e: BeforeUnloadEvent) => {
      if (s.unsyncedCount() > 0 && !navigator.onLine) e.preventDefault();
    };
    addEventListener("beforeunload", warn);
    return () => {
      removeEventListener("beforeunload", warn);
      void s.close();
    };
  }, [session]);
  if (!session) return <Login onIn={setSession} />;
  if (!store) return <p class="empty">正在打开…</p>;
  return (
    <>
      {error && <p class="error banner" role="alert">{error}</p>}
      <Shell store={store} onOut={async () => {
        await logout(store);
        setStore(null);
        setSession(null);
      }} />
    </>
  );
}

const root = document.getElementById("app")!;
initializeWasm(wasmUrl)
  .then(() => render(<App />, root))
  .catch((e) => {
    root.textContent = `应用无法启动（${(e as Error).message}）：请联网后刷新页面`;
  });
