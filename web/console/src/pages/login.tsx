import { useState } from "preact/hooks";
import { ApiError, login } from "../api";
import { lang, t } from "../i18n";
import type { Me } from "../types";

export function LoginPage({ onLogin, toggleLang }: { onLogin: (me: Me) => void; toggleLang: () => void }) {
  const [user, setUser] = useState("");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (event: Event) => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onLogin(await login(user.trim(), password));
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) setError(t("bad_credentials"));
      else if (e instanceof ApiError && e.status === 429) setError(t("rate_limited"));
      else setError(e instanceof Error ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div class="login-page">
      <form class="login-card" onSubmit={submit}>
        <div class="login-head">
          <div>
            <div class="brand-name">{t("app_name")}</div>
            <div class="brand-sub">{t("app_sub")}</div>
          </div>
          <button type="button" class="btn btn-ghost" onClick={toggleLang}>
            {lang() === "zh" ? "English" : "中文"}
          </button>
        </div>
        <h1>{t("login_title")}</h1>
        <label class="field">
          <span>{t("user")}</span>
          <input
            name="user"
            autocomplete="username"
            required
            value={user}
            onInput={(e) => setUser(e.currentTarget.value)}
          />
        </label>
        <label class="field">
          <span>{t("password")}</span>
          <input
            name="password"
            type="password"
            autocomplete="current-password"
            required
            value={password}
            onInput={(e) => setPassword(e.currentTarget.value)}
          />
        </label>
        {error && (
          <div class="error-box" role="alert">
            {error}
          </div>
        )}
        <button class="btn btn-primary btn-block" type="submit" disabled={busy}>
          {busy ? t("logging_in") : t("login")}
        </button>
        <p class="hint">{t("login_hint")}</p>
      </form>
    </div>
  );
}
