// The one place the console talks to the relay's records API. Requests go
// to the same origin with the session cookie; every request that changes
// something carries the CSRF token from login or /api/me.

import type { Me } from "./types";

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly reason: string | null,
    message: string,
  ) {
    super(message);
  }
}

let csrf: string | null = null;

// The session cookie is HttpOnly, so the page cannot see whether it has
// one. This flag remembers that it logged in, so a fresh browser shows the
// login form without first asking /api/me (which the relay would audit as
// a failed authentication and count against the address's rate limit).
const SESSION_HINT = "gridsync.console.session";

function hint(on: boolean): void {
  try {
    if (on) localStorage.setItem(SESSION_HINT, "1");
    else localStorage.removeItem(SESSION_HINT);
  } catch {
    /* private mode: ask /api/me every time */
  }
}

function hinted(): boolean {
  try {
    return localStorage.getItem(SESSION_HINT) !== null;
  } catch {
    return true;
  }
}
let onUnauthorized: () => void = () => {};

export function setCsrf(token: string | null | undefined): void {
  csrf = token ?? null;
}

/** Called when a request answers 401 (the session expired or was ended). */
export function whenUnauthorized(f: () => void): void {
  onUnauthorized = f;
}

export type Query = Record<string, string | number | boolean | null | undefined | string[]>;

export function withQuery(path: string, query?: Query): string {
  if (!query) return path;
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) {
    if (value === undefined || value === null || value === "" || value === false) continue;
    if (Array.isArray(value)) {
      if (value.length > 0) params.set(key, value.join(","));
    } else {
      params.set(key, String(value));
    }
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

async function request<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  let response: Response;
  try {
    response = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (e) {
    throw new ApiError(0, "network", `无法连接调度服务器 (${String(e)})`);
  }
  if (response.status === 204) return undefined as T;
  const text = await response.text();
  let data: unknown = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    const err = (data ?? {}) as { error?: string; reason?: string };
    const error = new ApiError(
      response.status,
      err.reason ?? null,
      err.error ?? `${response.status} ${response.statusText}`,
    );
    if (response.status === 401 && path !== "/api/login") {
      hint(false);
      onUnauthorized();
    }
    throw error;
  }
  return data as T;
}

export const api = {
  get: <T>(path: string, query?: Query) => request<T>("GET", withQuery(path, query)),
  post: <T>(path: string, body?: unknown) => request<T>("POST", path, body ?? {}),
};

export async function login(user: string, password: string): Promise<Me> {
  const me = await api.post<Me>("/api/login", { user, password });
  setCsrf(me.csrf);
  hint(true);
  return me;
}

export async function logout(): Promise<void> {
  try {
    await api.post<void>("/api/logout");
  } finally {
    setCsrf(null);
    hint(false);
  }
}

/** The logged-in person, or null when there is no session. */
export async function currentUser(): Promise<Me | null> {
  if (!hinted()) return null;
  try {
    const me = await api.get<Me>("/api/me");
    setCsrf(me.csrf);
    return me;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}
