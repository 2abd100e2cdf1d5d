// Logging in: the first login is online, with name and password. The
// password opens a console session (cookie), which mints this app its own
// device token (`POST /api/tokens`), then the session is ended: from then
// on the app holds only the token (in localStorage), syncs with it and
// asks `/api/me` with it. Offline, the stored session is used as it is.

import type { Role } from "../model/lifecycle.js";

export interface Session {
  user: string;
  role: Role;
  grids: string[];
  scope: unknown;
  token: string;
  tokenId: string;
  /** ms since the epoch of the login. */
  since: number;
}

const KEY = "gridsync:session";

export function storedSession(): Session | null {
  try {
    const raw = localStorage.getItem(KEY);
    return raw ? (JSON.parse(raw) as Session) : null;
  } catch {
    return null;
  }
}

export function forgetSession(): void {
  localStorage.removeItem(KEY);
}

export class LoginError extends Error {}

async function json(r: Response): Promise<Record<string, unknown>> {
  try {
    return (await r.json()) as Record<string, unknown>;
  } catch {
    return {};
  }
}

/** Logs in with a password and gets this device's own token. */
export async function login(user: string, password: string): Promise<Session> {
  let r: Response;
  try {
    r = await fetch("/api/login", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ user, password }),
    });
  } catch {
    throw new LoginError("无法连接服务器：首次登录需要联网，请连接网络后重试");
  }
  const body = await json(r);
  if (r.status === 401) throw new LoginError("用户名或密码错误");
  if (r.status === 429) throw new LoginError("尝试次数过多，请稍后再试");
  if (!r.ok) throw new LoginError(`登录失败（${r.status}）：${String(body.error ?? "")}`);
  const csrf = String(body.csrf ?? "");
  const t = await fetch("/api/tokens", {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf },
    body: JSON.stringify({ device: `field app (${navigator.userAgent.slice(0, 60)})` }),
  });
  const token = await json(t);
  if (t.status !== 201 || typeof token.token !== "string") {
    throw new LoginError(`无法为本设备签发令牌（${t.status}）：${String(token.error ?? "")}`);
  }
  const me = await fetch("/api/me", { headers: { Authorization: `Bearer ${token.token}` } });
  const who = await json(me);
  if (!me.ok) throw new LoginError(`无法读取账号信息（${me.status}）`);
  // The password session is no longer needed: the app holds its token.
  await fetch("/api/logout", { method: "POST", headers: { "X-CSRF-Token": csrf } }).catch(() => {});
  const session: Session = {
    user: String(who.user),
    role: who.role as Role,
    grids: (who.grids as string[]) ?? [],
    scope: who.scope ?? null,
    token: token.token,
    tokenId: String(token.id ?? ""),
    since: Date.now(),
  };
  localStorage.setItem(KEY, JSON.stringify(session));
  return session;
}

/** Refreshes role and grids from `/api/me` when online; the token keeps. */
export async function refreshMe(s: Session): Promise<Session | "revoked" | null> {
  try {
    const r = await fetch("/api/me", { headers: { Authorization: `Bearer ${s.token}` } });
    if (r.status === 401) return "revoked";
    if (!r.ok) return null;
    const who = await json(r);
    const next = { ...s, role: who.role as Role, grids: (who.grids as string[]) ?? s.grids, scope: who.scope ?? s.scope };
    localStorage.setItem(KEY, JSON.stringify(next));
    return next;
  } catch {
    return null;
  }
}
